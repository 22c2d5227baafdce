import Foundation

/// Types and ranges of the OpenAI fields the gateway forwards (``EngineRequestFields``): a client's mistake is a 400
/// naming the field here, never an engine's 500 relayed (llama-server answers `"tools": true` with 500).
extension CompletionRequestParser {
    static let maximumStops = 16
    /// `n` at most: each choice holds a node's slot of its own.
    static let maximumChoices = 16
    static let maximumTools = 128
    static let maximumLogitBiasEntries = 1024
    static let maximumShortStringBytes = 4096

    static func validateForwardedFields(_ fields: [String: Any], endpoint: CompletionRequest.Endpoint) throws {
        try checkNumber(fields, "presence_penalty", range: -2...2)
        try checkNumber(fields, "frequency_penalty", range: -2...2)
        try checkNumber(fields, "min_p", range: 0...1)
        try checkNumber(fields, "repetition_penalty", range: 0.01...10)
        _ = try optionalInt(fields, "top_k", range: -1...1_000_000)
        // Engines keep seeds in 64 bits at most (llama.cpp in 32: larger ones it folds, it does not fail).
        _ = try optionalInt(fields, "seed", range: Int(Int64.min)...Int(Int64.max))
        _ = try optionalString(fields, "user", maximumBytes: maximumShortStringBytes)
        _ = try optionalBool(fields, "stream")
        try checkStop(fields["stop"])
        try checkLogitBias(fields["logit_bias"])
        switch endpoint {
        case .chatCompletions:
            let logprobs = try optionalBool(fields, "logprobs") ?? false
            if try optionalInt(fields, "top_logprobs", range: 0...20) != nil, !logprobs {
                throw OpenAIError.invalidRequest(
                    "'top_logprobs' requires 'logprobs' to be true.", param: "top_logprobs", code: "invalid_value")
            }
            try checkResponseFormat(fields["response_format"])
            let tools = try checkTools(fields["tools"])
            try checkToolChoice(fields["tool_choice"], tools: tools)
            _ = try optionalBool(fields, "parallel_tool_calls")
        case .completions:
            _ = try optionalInt(fields, "logprobs", range: 0...5)
            _ = try optionalBool(fields, "echo")
            _ = try optionalString(fields, "suffix", maximumBytes: Int.max)
        }
    }

    /// The effective token limit: the largest the client sent under any name engines read
    /// (``EngineRequestFields/tokenLimits``), each an integer in range.
    static func effectiveMaxTokens(_ fields: [String: Any]) throws -> Int? {
        var effective: Int?
        for name in EngineRequestFields.tokenLimits {
            if let limit = try optionalInt(fields, name, range: 1...10_000_000) { effective = max(effective ?? limit, limit) }
        }
        return effective
    }

    private static func invalid(_ param: String, _ message: String, code: String = "invalid_type") -> OpenAIError {
        OpenAIError.invalidRequest("'\(param)' \(message)", param: param, code: code)
    }

    static func optionalString(_ fields: [String: Any], _ key: String, param: String? = nil, maximumBytes: Int) throws -> String? {
        guard let value = fields[key], !(value is NSNull) else { return nil }
        guard let text = value as? String else { throw invalid(param ?? key, "must be a string.") }
        guard text.utf8.count <= maximumBytes else {
            throw invalid(param ?? key, "must be at most \(maximumBytes) bytes.", code: "invalid_value")
        }
        return text
    }

    private static func checkStop(_ value: Any?) throws {
        switch value {
        case nil, is NSNull, is String:
            return
        case let list as [Any]:
            guard list.count <= maximumStops else {
                throw invalid("stop", "may list at most \(maximumStops) sequences.", code: "invalid_value")
            }
            guard list.allSatisfy({ $0 is String }) else { throw invalid("stop", "must be a string or an array of strings.") }
        default:
            throw invalid("stop", "must be a string or an array of strings.")
        }
    }

    private static func checkLogitBias(_ value: Any?) throws {
        guard let value, !(value is NSNull) else { return }
        guard let bias = value as? [String: Any] else { throw invalid("logit_bias", "must be an object of token ids to numbers.") }
        guard bias.count <= maximumLogitBiasEntries else {
            throw invalid("logit_bias", "may hold at most \(maximumLogitBiasEntries) entries.", code: "invalid_value")
        }
        for (token, weight) in bias {
            guard let id = Int(token), (0...Int(Int32.max)).contains(id) else {
                throw invalid("logit_bias", "keys must be token ids (non-negative integers).")
            }
            guard !isBool(weight), let number = weight as? NSNumber, (-100...100).contains(number.doubleValue) else {
                throw invalid("logit_bias", "values must be numbers between -100 and 100.", code: "invalid_value")
            }
        }
    }

    private static func checkResponseFormat(_ value: Any?) throws {
        guard let value, !(value is NSNull) else { return }
        guard let format = value as? [String: Any] else { throw invalid("response_format", "must be an object.") }
        switch format["type"] as? String {
        case "text", "json_object":
            return
        case "json_schema":
            guard let schema = format["json_schema"] as? [String: Any] else {
                throw invalid("response_format.json_schema", "must be an object.")
            }
            guard let name = schema["name"] as? String, isFunctionName(name) else {
                throw invalid("response_format.json_schema.name", "must be 1-64 characters of a-z, A-Z, 0-9, _ and -.")
            }
            if let body = schema["schema"], !(body is NSNull), !(body is [String: Any]) {
                throw invalid("response_format.json_schema.schema", "must be an object.")
            }
            _ = try optionalBool(schema, "strict", param: "response_format.json_schema.strict")
        default:
            throw invalid("response_format.type", "must be one of text, json_object, json_schema.", code: "invalid_value")
        }
    }

    /// The tool names declared, or nil when the request has no tools.
    private static func checkTools(_ value: Any?) throws -> Set<String>? {
        guard let value, !(value is NSNull) else { return nil }
        guard let tools = value as? [Any] else { throw invalid("tools", "must be an array of tools.") }
        guard tools.count <= maximumTools else { throw invalid("tools", "may list at most \(maximumTools) tools.", code: "invalid_value") }
        var names: Set<String> = []
        for (index, element) in tools.enumerated() {
            let param = "tools[\(index)]"
            guard let tool = element as? [String: Any] else { throw invalid(param, "must be an object.") }
            guard tool["type"] as? String == "function" else {
                throw invalid(param + ".type", "must be 'function'.", code: "invalid_value")
            }
            guard let function = tool["function"] as? [String: Any] else { throw invalid(param + ".function", "must be an object.") }
            guard let name = function["name"] as? String, isFunctionName(name) else {
                throw invalid(param + ".function.name", "must be 1-64 characters of a-z, A-Z, 0-9, _ and -.")
            }
            _ = try optionalString(function, "description", param: param + ".function.description", maximumBytes: Int.max)
            if let parameters = function["parameters"], !(parameters is NSNull), !(parameters is [String: Any]) {
                throw invalid(param + ".function.parameters", "must be an object (a JSON Schema).")
            }
            _ = try optionalBool(function, "strict", param: param + ".function.strict")
            names.insert(name)
        }
        return names
    }

    private static func checkToolChoice(_ value: Any?, tools: Set<String>?) throws {
        guard let value, !(value is NSNull) else { return }
        switch value {
        case let mode as String:
            guard ["none", "auto", "required"].contains(mode) else {
                throw invalid("tool_choice", "must be none, auto, required or a function.", code: "invalid_value")
            }
            if mode == "required", tools?.isEmpty ?? true {
                throw invalid("tool_choice", "'required' needs 'tools'.", code: "invalid_value")
            }
        case let choice as [String: Any]:
            guard choice["type"] as? String == "function", let function = choice["function"] as? [String: Any],
                let name = function["name"] as? String
            else { throw invalid("tool_choice", "must name a function: {\"type\":\"function\",\"function\":{\"name\":...}}.") }
            guard tools?.contains(name) == true else {
                throw invalid("tool_choice", "names a function that 'tools' does not declare.", code: "invalid_value")
            }
        default:
            throw invalid("tool_choice", "must be a string or an object.")
        }
    }

    private static func isFunctionName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
                    || byte == 0x2D
            }
    }
}
