import Foundation

/// A request to OpenAI's Responses API (`POST /v1/responses`), translated to the chat completion that engines serve
/// (llama.cpp's server, vLLM and SGLang all take chat completions; not all take responses).
///
/// Translated: `input` (a string, or message, `function_call` and `function_call_output` items), `instructions`,
/// `max_output_tokens`, `temperature`, `top_p`, function `tools`, `tool_choice`, `parallel_tool_calls`,
/// `text.format` (text, `json_object`, `json_schema`), `metadata` (Hearth's `metadata.task` included), `user` and
/// `stream`. Refused with the field named: anything that needs a stored response (`previous_response_id`,
/// `conversation`, `item_reference`, `background`), non-text input parts, and tools other than functions: Hearth
/// keeps no responses, and its nodes serve text models.
public struct ResponsesRequest: Sendable {
    /// The chat completion request for the engine.
    public var chatBody: [UInt8]
    public var stream: Bool
    /// The request's fields that OpenAI's response object repeats (`model`, `instructions`, `tools`, ...).
    public var echo: ResponsesEcho

    /// A field the translation cannot take: the message, the field's path (`input[2].content`) and a code.
    public struct Failure: Error, Sendable, Equatable {
        public var message: String
        public var param: String?
        public var code: String
    }

    public init(body: [UInt8]) throws(Failure) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw Failure(message: "The request body must be a JSON object.", param: nil, code: "invalid_json")
        }
        try Self.refuseStoredState(object)
        guard let model = object["model"] as? String, !model.isEmpty else {
            throw Failure(message: "'model' must be a non-empty string.", param: "model", code: "invalid_type")
        }
        var chat: [String: Any] = ["model": model]
        var messages: [[String: Any]] = []
        let instructions = object["instructions"]
        if let instructions, !(instructions is NSNull) {
            guard let text = instructions as? String else {
                throw Failure(message: "'instructions' must be a string.", param: "instructions", code: "invalid_type")
            }
            messages.append(["role": "system", "content": text])
        }
        messages += try Self.messages(from: object["input"])
        chat["messages"] = messages

        let stream = try Self.optional(object, "stream", as: Bool.self) ?? false
        chat["stream"] = stream
        // The last chunk carries usage: the response object reports it.
        if stream { chat["stream_options"] = ["include_usage": true] }
        if let limit = try Self.optional(object, "max_output_tokens", as: Int.self) {
            guard limit >= 1 else {
                throw Failure(message: "'max_output_tokens' must be at least 1.", param: "max_output_tokens", code: "invalid_value")
            }
            chat["max_tokens"] = limit
        }
        for key in ["temperature", "top_p"] {
            if let value = try Self.optional(object, key, as: Double.self) { chat[key] = value }
        }
        if let metadata = try Self.optional(object, "metadata", as: [String: Any].self) { chat["metadata"] = metadata }
        if let user = try Self.optional(object, "user", as: String.self) { chat["user"] = user }
        if let parallel = try Self.optional(object, "parallel_tool_calls", as: Bool.self) { chat["parallel_tool_calls"] = parallel }
        let tools = try Self.optional(object, "tools", as: [Any].self) ?? []
        if !tools.isEmpty { chat["tools"] = try Self.chatTools(tools) }
        if let choice = object["tool_choice"], !(choice is NSNull) { chat["tool_choice"] = try Self.chatToolChoice(choice) }
        let text = try Self.optional(object, "text", as: [String: Any].self)
        if let format = text?["format"], !(format is NSNull) {
            if let responseFormat = try Self.chatResponseFormat(format) { chat["response_format"] = responseFormat }
        }

        guard let chatBody = try? JSONSerialization.data(withJSONObject: chat, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            throw Failure(message: "The request holds values that cannot be sent on.", param: nil, code: "invalid_value")
        }
        self.chatBody = Array(chatBody)
        self.stream = stream
        var echo: [String: Any] = [
            "model": model,
            "instructions": instructions ?? NSNull(),
            "max_output_tokens": object["max_output_tokens"] ?? NSNull(),
            "temperature": object["temperature"] ?? 1.0,
            "top_p": object["top_p"] ?? 1.0,
            "tools": tools,
            "tool_choice": object["tool_choice"] ?? "auto",
            "parallel_tool_calls": object["parallel_tool_calls"] ?? true,
            "text": text ?? ["format": ["type": "text"]],
            "metadata": object["metadata"] ?? [String: Any](),
        ]
        if let user = object["user"] { echo["user"] = user }
        self.echo = ResponsesEcho(fields: echo)
    }

    /// Hearth stores no responses: a request that builds on one, or asks to be run and fetched later, cannot be served.
    private static func refuseStoredState(_ object: [String: Any]) throws(Failure) {
        for key in ["previous_response_id", "conversation", "prompt"] {
            guard let value = object[key], !(value is NSNull) else { continue }
            throw Failure(
                message: "'\(key)' needs a stored response or prompt, and Hearth stores none: send the whole conversation in 'input'.",
                param: key, code: "unsupported_parameter")
        }
        if object["background"] as? Bool == true {
            throw Failure(
                message: "Background responses are not supported: Hearth stores no responses to fetch later.", param: "background",
                code: "unsupported_parameter")
        }
    }

    private static func optional<T>(_ object: [String: Any], _ key: String, as type: T.Type) throws(Failure) -> T? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        // JSON numbers and booleans both arrive as NSNumber; only the type encoding tells `true` from 1.
        if let number = value as? NSNumber {
            let isBool = String(cString: number.objCType) == "c"
            if T.self == Bool.self, isBool { return number.boolValue as? T }
            if T.self == Int.self, !isBool, number.doubleValue.isFinite, let int = Int(exactly: number.doubleValue) { return int as? T }
            if T.self == Double.self, !isBool, number.doubleValue.isFinite { return number.doubleValue as? T }
        } else if T.self != Bool.self, T.self != Int.self, T.self != Double.self, let typed = value as? T {
            return typed
        }
        throw Failure(message: "'\(key)' has the wrong type.", param: key, code: "invalid_type")
    }

    /// `input` as chat messages: a string is one user message; items become messages, and consecutive function
    /// calls join the assistant message before them, as chat completions carry them.
    static func messages(from input: Any?) throws(Failure) -> [[String: Any]] {
        if let text = input as? String { return [["role": "user", "content": text]] }
        guard let items = input as? [Any], !items.isEmpty else {
            throw Failure(message: "'input' must be a string or a non-empty array of items.", param: "input", code: "invalid_type")
        }
        var messages: [[String: Any]] = []
        var calls: [[String: Any]] = []
        func flushCalls() {
            guard !calls.isEmpty else { return }
            if var last = messages.last, last["role"] as? String == "assistant", last["tool_calls"] == nil {
                last["tool_calls"] = calls
                messages[messages.count - 1] = last
            } else {
                messages.append(["role": "assistant", "content": NSNull(), "tool_calls": calls])
            }
            calls = []
        }
        for (index, element) in items.enumerated() {
            let path = "input[\(index)]"
            guard let item = element as? [String: Any] else {
                throw Failure(message: "'\(path)' must be an object.", param: path, code: "invalid_type")
            }
            switch item["type"] as? String ?? "message" {
            case "message":
                flushCalls()
                let roles = ["user": "user", "assistant": "assistant", "system": "system", "developer": "system"]
                guard let role = (item["role"] as? String).flatMap({ roles[$0] }) else {
                    throw Failure(
                        message: "'\(path).role' must be user, assistant, system or developer.", param: "\(path).role",
                        code: "invalid_value")
                }
                messages.append(["role": role, "content": try text(of: item["content"], path: "\(path).content")])
            case "function_call":
                guard let callID = item["call_id"] as? String, let name = item["name"] as? String,
                    let arguments = item["arguments"] as? String
                else {
                    throw Failure(
                        message: "'\(path)' (a function_call) needs string 'call_id', 'name' and 'arguments'.", param: path,
                        code: "invalid_value")
                }
                calls.append(["id": callID, "type": "function", "function": ["name": name, "arguments": arguments]])
            case "function_call_output":
                flushCalls()
                guard let callID = item["call_id"] as? String else {
                    throw Failure(message: "'\(path).call_id' must be a string.", param: "\(path).call_id", code: "invalid_value")
                }
                messages.append(["role": "tool", "tool_call_id": callID, "content": try text(of: item["output"], path: "\(path).output")])
            case "reasoning":
                // A reasoning summary from another model: nothing an engine here takes as input.
                continue
            case let other:
                throw Failure(
                    message: "Input items of type '\(other)' are not supported (Hearth stores no items to refer to).",
                    param: "\(path).type", code: "unsupported_value")
            }
        }
        flushCalls()
        return messages
    }

    /// A message's content: a string, or text parts joined. Images, files and audio are refused (text models).
    private static func text(of content: Any?, path: String) throws(Failure) -> String {
        if let text = content as? String { return text }
        guard let parts = content as? [Any] else {
            throw Failure(message: "'\(path)' must be a string or an array of parts.", param: path, code: "invalid_type")
        }
        var text = ""
        for (index, element) in parts.enumerated() {
            let partPath = "\(path)[\(index)]"
            guard let part = element as? [String: Any], let type = part["type"] as? String else {
                throw Failure(message: "'\(partPath)' must be an object with a 'type'.", param: partPath, code: "invalid_type")
            }
            guard ["input_text", "output_text", "text"].contains(type), let piece = part["text"] as? String else {
                throw Failure(
                    message: "Content parts of type '\(type)' are not supported: Hearth's nodes serve text models.",
                    param: "\(partPath).type", code: "unsupported_value")
            }
            text += piece
        }
        return text
    }

    /// Responses-style function tools (`{type, name, parameters}`) in chat form (`{type, function: {...}}`).
    private static func chatTools(_ tools: [Any]) throws(Failure) -> [[String: Any]] {
        var chatTools: [[String: Any]] = []
        for (index, element) in tools.enumerated() {
            let path = "tools[\(index)]"
            guard let tool = element as? [String: Any], tool["type"] as? String == "function" else {
                throw Failure(
                    message: "Only function tools are supported; '\(path)' is another kind.", param: "\(path).type",
                    code: "unsupported_value")
            }
            guard let name = tool["name"] as? String, !name.isEmpty else {
                throw Failure(message: "'\(path).name' must be a non-empty string.", param: "\(path).name", code: "invalid_value")
            }
            var function: [String: Any] = ["name": name]
            for key in ["description", "parameters", "strict"] where tool[key] != nil && !(tool[key] is NSNull) {
                function[key] = tool[key]
            }
            chatTools.append(["type": "function", "function": function])
        }
        return chatTools
    }

    private static func chatToolChoice(_ choice: Any) throws(Failure) -> Any {
        if let mode = choice as? String, ["auto", "none", "required"].contains(mode) { return mode }
        if let object = choice as? [String: Any], object["type"] as? String == "function", let name = object["name"] as? String {
            return ["type": "function", "function": ["name": name]]
        }
        throw Failure(
            message: "'tool_choice' must be auto, none, required or {\"type\": \"function\", \"name\": ...}.", param: "tool_choice",
            code: "unsupported_value")
    }

    /// `text.format` as the chat `response_format`; nil for plain text.
    private static func chatResponseFormat(_ format: Any) throws(Failure) -> [String: Any]? {
        guard let format = format as? [String: Any], let type = format["type"] as? String else {
            throw Failure(message: "'text.format' must be an object with a 'type'.", param: "text.format", code: "invalid_type")
        }
        switch type {
        case "text":
            return nil
        case "json_object":
            return ["type": "json_object"]
        case "json_schema":
            guard let name = format["name"] as? String, let schema = format["schema"] as? [String: Any] else {
                throw Failure(
                    message: "'text.format' of type json_schema needs a 'name' and a 'schema' object.", param: "text.format",
                    code: "invalid_value")
            }
            var jsonSchema: [String: Any] = ["name": name, "schema": schema]
            for key in ["strict", "description"] where format[key] != nil && !(format[key] is NSNull) { jsonSchema[key] = format[key] }
            return ["type": "json_schema", "json_schema": jsonSchema]
        default:
            throw Failure(
                message: "'text.format.type' must be text, json_object or json_schema.", param: "text.format.type",
                code: "unsupported_value")
        }
    }
}

/// The request fields a response object repeats, kept as JSON (the values are the client's, of any JSON type).
public struct ResponsesEcho: Sendable {
    let json: [UInt8]

    init(fields: [String: Any]) {
        json = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init) ?? []
    }

    var fields: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any]) ?? [:] }
}
