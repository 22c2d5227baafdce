package import Foundation
package import HearthCore

/// The facts the gateway needs from an OpenAI completion request, after validation.
///
/// The body reaches engines only through ``EngineRequestBody``: allowed fields, each once, one token limit.
package struct CompletionRequest: Sendable, Equatable {
    package enum Endpoint: String, Sendable {
        case chatCompletions = "/v1/chat/completions"
        case completions = "/v1/completions"
    }

    package var endpoint: Endpoint
    package var model: String
    package var stream: Bool
    package var includeUsage: Bool
    package var maxTokens: Int?
    /// Characters of prompt text: the basis of the prompt-token estimate before the engine counts.
    package var promptCharacters: Int
    /// Messages from the user in a chat: a multi-turn conversation has more than one.
    package var turns: Int
    /// `X-Hearth-Task` header or `metadata.task`, as sent.
    package var declaredTask: String?
    /// `metadata.slo_policy`, validated (the `X-Hearth-SLO-Policy` header, when sent, wins over it).
    package var declaredSLOPolicy: SLOPolicy?
    /// Identifies a conversation across its turns: a hash of everything up to and including the first
    /// user message, which every later turn repeats. The scheduler keeps a session on the node that
    /// holds its KV cache.
    package var conversationKey: UInt64?
    /// Hashes of the prompt's leading blocks, role boundaries included (``PromptPrefixHasher``), not yet salted.
    package var prefixHashes: [UInt64] = []
    /// The body to send engines when it differs from the client's (fields dropped or mapped); nil: the client's bytes.
    package var engineBody: [UInt8]?
    /// `n`: answers wanted; above 1, each is a request of its own to a node (engines such as llama.cpp's serve one).
    package var choices = 1

    /// A rough prompt-token estimate (about four characters a token in English text).
    package var estimatedPromptTokens: Int { max(1, promptCharacters / 4) }
}

/// Parses and validates a request body, naming the offending field in the error.
package enum CompletionRequestParser {
    static let roles: Set<String> = ["system", "user", "assistant", "tool", "developer", "function"]

    package static func parse(_ body: Data, endpoint: CompletionRequest.Endpoint, taskHeader: String?) throws -> CompletionRequest {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
        } catch {
            throw OpenAIError.invalidRequest(
                "We could not parse the JSON body of your request. (\(error.localizedDescription))",
                code: "invalid_json"
            )
        }
        guard let fields = object as? [String: Any] else {
            throw OpenAIError.invalidRequest("The request body must be a JSON object.", code: "invalid_json")
        }
        guard let model = fields["model"] as? String, !model.isEmpty else {
            throw fields["model"] == nil
                ? OpenAIError.invalidRequest("You must provide a model parameter.", param: "model", code: "missing_required_parameter")
                : OpenAIError.invalidRequest("'model' must be a non-empty string.", param: "model", code: "invalid_type")
        }
        let stream = try optionalBool(fields, "stream") ?? false
        var includeUsage = false
        if let options = fields["stream_options"], !(options is NSNull) {
            guard let options = options as? [String: Any] else {
                throw OpenAIError.invalidRequest("'stream_options' must be an object.", param: "stream_options", code: "invalid_type")
            }
            includeUsage = try optionalBool(options, "include_usage", param: "stream_options.include_usage") ?? false
        }
        // Every name an engine reads as the limit counts: `max_tokens: 1` beside `n_predict: 100000` is 100000.
        let maxTokens = try effectiveMaxTokens(fields)
        try checkNumber(fields, "temperature", range: 0...2)
        try checkNumber(fields, "top_p", range: 0...1)
        let choices = try optionalInt(fields, "n", range: 1...128) ?? 1
        guard choices <= maximumChoices else {
            throw OpenAIError.invalidRequest(
                "Hearth serves at most \(maximumChoices) choices a request (each runs on a node of its own); send more requests.",
                param: "n", code: "unsupported_value")
        }
        try validateForwardedFields(fields, endpoint: endpoint)
        var declaredTask = taskHeader
        var declaredSLOPolicy: SLOPolicy?
        if let metadata = fields["metadata"], !(metadata is NSNull) {
            guard let metadata = metadata as? [String: Any] else {
                throw OpenAIError.invalidRequest("'metadata' must be an object.", param: "metadata", code: "invalid_type")
            }
            if let task = metadata["task"] {
                guard let task = task as? String else {
                    throw OpenAIError.invalidRequest("'metadata.task' must be a string.", param: "metadata.task", code: "invalid_type")
                }
                declaredTask = declaredTask ?? task
            }
            if let policy = metadata["slo_policy"], !(policy is NSNull) {
                guard let name = policy as? String, let known = SLOPolicy(rawValue: name.lowercased()) else {
                    throw OpenAIError.invalidRequest(
                        "'metadata.slo_policy' must be one of \(SLOPolicy.names).",
                        param: "metadata.slo_policy", code: "invalid_value")
                }
                declaredSLOPolicy = known
            }
        }

        let (characters, turns, key) =
            switch endpoint {
            case .chatCompletions: try measureMessages(fields["messages"])
            case .completions: try measurePrompt(fields["prompt"])
            }
        return CompletionRequest(
            endpoint: endpoint,
            model: model,
            stream: stream,
            includeUsage: includeUsage,
            maxTokens: maxTokens,
            promptCharacters: characters,
            turns: turns,
            declaredTask: declaredTask,
            declaredSLOPolicy: declaredSLOPolicy,
            conversationKey: key,
            prefixHashes: prefixHashes(fields, endpoint: endpoint),
            engineBody: EngineRequestBody.rewrite(body, fields: fields, endpoint: endpoint, maxTokens: maxTokens),
            choices: choices
        )
    }

    private static func measureMessages(_ value: Any?) throws -> (characters: Int, turns: Int, key: UInt64?) {
        guard let value else {
            throw OpenAIError.invalidRequest(
                "You must provide a messages parameter.", param: "messages", code: "missing_required_parameter")
        }
        guard let messages = value as? [Any], !messages.isEmpty else {
            throw OpenAIError.invalidRequest("'messages' must be a non-empty array.", param: "messages", code: "invalid_type")
        }
        var characters = 0
        var turns = 0
        var key = FNV1a()
        for (index, element) in messages.enumerated() {
            guard let message = element as? [String: Any] else {
                throw OpenAIError.invalidRequest(
                    "'messages[\(index)]' must be an object.", param: "messages[\(index)]", code: "invalid_type")
            }
            guard let role = message["role"] as? String, roles.contains(role) else {
                throw OpenAIError.invalidRequest(
                    "'messages[\(index)].role' must be one of \(roles.sorted().joined(separator: ", ")).",
                    param: "messages[\(index)].role",
                    code: "invalid_value"
                )
            }
            try checkMessageFields(message, param: "messages[\(index)]", role: role)
            if role == "user" { turns += 1 }
            let opening = turns <= 1 && (role == "system" || role == "developer" || role == "user")
            if opening { key.add(role) }
            switch message["content"] {
            case let text as String:
                characters += text.utf8.count
                if opening { key.add(text) }
            case let parts as [Any]:
                for (partIndex, part) in parts.enumerated() {
                    characters += try measurePart(part, param: "messages[\(index)].content[\(partIndex)]")
                }
            case nil, is NSNull:
                guard role == "assistant" else {
                    throw OpenAIError.invalidRequest(
                        "'messages[\(index)].content' is required for role '\(role)'.",
                        param: "messages[\(index)].content",
                        code: "missing_required_parameter"
                    )
                }
            default:
                throw OpenAIError.invalidRequest(
                    "'messages[\(index)].content' must be a string or an array of content parts.",
                    param: "messages[\(index)].content",
                    code: "invalid_type"
                )
            }
        }
        return (characters, turns, turns > 0 ? key.value : nil)
    }

    /// Characters of one content part; its type and fields checked (a text part must carry its text).
    private static func measurePart(_ part: Any, param: String) throws -> Int {
        guard let part = part as? [String: Any] else {
            throw OpenAIError.invalidRequest("'\(param)' must be an object.", param: param, code: "invalid_type")
        }
        switch part["type"] as? String {
        case "text":
            guard let text = part["text"] as? String else {
                throw OpenAIError.invalidRequest("'\(param).text' must be a string.", param: param + ".text", code: "invalid_type")
            }
            return text.utf8.count
        default:
            throw OpenAIError.invalidRequest(
                "'\(param).type' must be 'text': Hearth serves text models (llama-server answers an image part with 500).",
                param: param + ".type", code: "invalid_value")
        }
    }

    /// The optional fields of a message that engines read: `name`, an assistant's `tool_calls`, a tool's `tool_call_id`.
    private static func checkMessageFields(_ message: [String: Any], param: String, role: String) throws {
        func invalid(_ field: String, _ what: String) -> OpenAIError {
            OpenAIError.invalidRequest("'\(param).\(field)' must be \(what).", param: "\(param).\(field)", code: "invalid_type")
        }
        if let name = message["name"], !(name is NSNull), !(name is String) { throw invalid("name", "a string") }
        if role == "tool" {
            guard message["tool_call_id"] is String else { throw invalid("tool_call_id", "a string (the call this answers)") }
        }
        guard let calls = message["tool_calls"], !(calls is NSNull) else { return }
        guard role == "assistant", let list = calls as? [Any] else { throw invalid("tool_calls", "an array, on an assistant message") }
        for (index, element) in list.enumerated() {
            guard let call = element as? [String: Any], call["id"] is String, call["type"] as? String == "function",
                let function = call["function"] as? [String: Any], function["name"] is String, function["arguments"] is String
            else {
                throw invalid(
                    "tool_calls[\(index)]",
                    "{\"id\": string, \"type\": \"function\", \"function\": {\"name\": string, \"arguments\": string}}")
            }
        }
    }

    private static func measurePrompt(_ value: Any?) throws -> (characters: Int, turns: Int, key: UInt64?) {
        switch value {
        case let text as String:
            var key = FNV1a()
            key.add(String(text.utf8.prefix(2048)) ?? "")
            return (text.utf8.count, 1, key.value)
        case let parts as [Any] where parts.count == 1 && parts[0] is String:
            return try measurePrompt(parts[0])
        case let parts as [Any] where !parts.isEmpty:
            // One prompt per request: engines answer an array of several prompts with one completion each (llama-server
            // and vLLM both do), a multiple of the work that the request's token limit was counted for.
            guard parts.allSatisfy({ !isBool($0) && ($0 as? NSNumber).flatMap(integer).map { $0 >= 0 } == true }) else {
                throw OpenAIError.invalidRequest(
                    "'prompt' must be one prompt: a string or an array of token ids (send several prompts as separate requests).",
                    param: "prompt", code: "invalid_value")
            }
            return (parts.count.multipliedReportingOverflow(by: 4).partialValue, 1, nil)  // about four characters a token
        case nil:
            throw OpenAIError.invalidRequest("You must provide a prompt parameter.", param: "prompt", code: "missing_required_parameter")
        default:
            throw OpenAIError.invalidRequest("'prompt' must be a string or a non-empty array.", param: "prompt", code: "invalid_type")
        }
    }

    static func isBool(_ value: Any) -> Bool {
        // JSON booleans decode as NSNumber too; only their type encoding tells them from 0 and 1.
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"

    }

    static func optionalBool(_ fields: [String: Any], _ key: String, param: String? = nil) throws -> Bool? {
        guard let value = fields[key], !(value is NSNull) else { return nil }
        guard isBool(value), let bool = value as? Bool else {
            throw OpenAIError.invalidRequest("'\(param ?? key)' must be a boolean.", param: param ?? key, code: "invalid_type")
        }
        return bool
    }

    static func optionalInt(_ fields: [String: Any], _ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard let value = fields[key], !(value is NSNull) else { return nil }
        guard !isBool(value), let number = value as? NSNumber, let int = integer(number) else {
            throw OpenAIError.invalidRequest("'\(key)' must be an integer.", param: key, code: "invalid_type")
        }
        guard range.contains(int) else {
            throw OpenAIError.invalidRequest(
                "'\(key)' must be between \(range.lowerBound) and \(range.upperBound).", param: key, code: "invalid_value")
        }
        return int
    }

    /// The integer a JSON number holds exactly, or nil (fractions; beyond 64 bits). Integers beyond 2^53 keep
    /// every digit (a double would round them).
    static func integer(_ number: NSNumber) -> Int? {
        switch String(cString: number.objCType) {
        case "q", "l", "i", "s": return Int(exactly: number.int64Value)
        case "Q", "L", "I", "S": return number.uint64Value <= UInt64(Int.max) ? Int(number.uint64Value) : nil
        default:
            let double = number.doubleValue
            return double.isFinite && double == double.rounded() ? Int(exactly: double) : nil
        }
    }

    static func checkNumber(_ fields: [String: Any], _ key: String, range: ClosedRange<Double>) throws {
        guard let value = fields[key], !(value is NSNull) else { return }
        guard !isBool(value), let number = value as? NSNumber else {
            throw OpenAIError.invalidRequest("'\(key)' must be a number.", param: key, code: "invalid_type")
        }
        guard range.contains(number.doubleValue) else {
            throw OpenAIError.invalidRequest(
                "'\(key)' must be between \(range.lowerBound) and \(range.upperBound).", param: key, code: "invalid_value")
        }
    }
}

/// 64-bit FNV-1a: a fast, stable hash for routing keys (not for security).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ text: String) {
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01B3
        }
        value ^= 0xFF  // separator, so ("ab","c") and ("a","bc") differ
        value &*= 0x0000_0100_0000_01B3
    }
}
