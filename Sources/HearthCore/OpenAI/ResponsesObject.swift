import Foundation

/// One answer's response object in the Responses API's shape, built from what a chat completion returned: the
/// ids, the echoed request fields, the output items, the status and the usage.
public struct ResponsesObject: Sendable {
    /// `resp_…`; output items are named after it (`msg_…_0`, `fc_…_1`).
    public let id: String
    public let createdAt: Int
    let echo: ResponsesEcho

    /// `key`: a unique hex string (the gateway's request id without its dashes), so a response can be found in the
    /// ledger by its id. `createdAt`: Unix seconds, from the caller's clock.
    public init(key: String, createdAt: Int, echo: ResponsesEcho) {
        self.id = "resp_" + key
        self.createdAt = createdAt
        self.echo = echo
    }

    /// An output item, as the stream builds it and the response lists it.
    enum Item {
        case message(text: String)
        case functionCall(callID: String, name: String, arguments: String)
    }

    /// Token counts in the Responses API's names, from a chat completion's `usage`.
    struct Usage {
        var input = 0
        var output = 0
        var cached = 0

        init?(chat: Any?) {
            guard let usage = chat as? [String: Any] else { return nil }
            input = max(0, usage["prompt_tokens"] as? Int ?? 0)
            output = max(0, usage["completion_tokens"] as? Int ?? 0)
            cached = max(0, (usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int ?? 0)
        }

        var json: [String: Any] {
            [
                "input_tokens": input, "input_tokens_details": ["cached_tokens": cached, "cache_write_tokens": 0], "output_tokens": output,
                "output_tokens_details": ["reasoning_tokens": 0], "total_tokens": input.addingReportingOverflow(output).partialValue,
            ]
        }
    }

    /// How the answer ended, from the chat's `finish_reason`.
    enum Ending {
        case completed
        case incomplete(reason: String)
        case failed(message: String)

        init(finishReason: String?) {
            switch finishReason {
            case "length": self = .incomplete(reason: "max_output_tokens")
            case "content_filter": self = .incomplete(reason: "content_filter")
            default: self = .completed
            }
        }
    }

    func itemID(_ item: Item, at index: Int) -> String {
        let key = id.dropFirst("resp_".count)
        switch item {
        case .message: return "msg_\(key)_\(index)"
        case .functionCall: return "fc_\(key)_\(index)"
        }
    }

    func json(_ item: Item, at index: Int, done: Bool) -> [String: Any] {
        let status = done ? "completed" : "in_progress"
        switch item {
        case .message(let text):
            return [
                "id": itemID(item, at: index), "type": "message", "status": status, "role": "assistant",
                "content": done ? [textPart(text)] : [],
            ]
        case .functionCall(let callID, let name, let arguments):
            return [
                "id": itemID(item, at: index), "type": "function_call", "status": status, "call_id": callID, "name": name,
                "arguments": done ? arguments : "",
            ]
        }
    }

    func textPart(_ text: String) -> [String: Any] {
        ["type": "output_text", "text": text, "annotations": [Any](), "logprobs": [Any]()]
    }

    /// The whole response object. `ending` nil: still in progress (the stream's first events).
    func json(items: [Item], ending: Ending?, usage: Usage?) -> [String: Any] {
        var object = echo.fields
        object["id"] = id
        object["object"] = "response"
        object["created_at"] = createdAt
        object["output"] = items.enumerated().map { json($0.element, at: $0.offset, done: true) }
        object["previous_response_id"] = NSNull()
        object["store"] = false
        object["truncation"] = "disabled"
        object["error"] = NSNull()
        object["incomplete_details"] = NSNull()
        object["usage"] = usage?.json ?? NSNull()
        switch ending {
        case nil:
            object["status"] = "in_progress"
        case .completed:
            object["status"] = "completed"
        case .incomplete(let reason):
            object["status"] = "incomplete"
            object["incomplete_details"] = ["reason": reason]
        case .failed(let message):
            object["status"] = "failed"
            // The Responses API's error codes are a fixed list: a node's failure is a server error; its own code stays in
            // the message.
            object["error"] = ["code": "server_error", "message": message]
        }
        return object
    }

    static func encode(_ object: [String: Any]) -> [UInt8] {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init) ?? []
    }

    /// A buffered chat completion as a response object. Throws when the node's answer is not a chat completion.
    public func answer(fromChatCompletion body: [UInt8]) throws(ResponsesRequest.Failure) -> [UInt8] {
        guard let completion = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
            let choice = (completion["choices"] as? [Any])?.first as? [String: Any],
            let message = choice["message"] as? [String: Any]
        else {
            throw ResponsesRequest.Failure(message: "The node's answer is not a chat completion.", param: nil, code: "node_failed")
        }
        var items: [Item] = []
        if let text = message["content"] as? String, !text.isEmpty { items.append(.message(text: text)) }
        for (index, element) in ((message["tool_calls"] as? [Any]) ?? []).enumerated() {
            guard let call = element as? [String: Any], let function = call["function"] as? [String: Any] else { continue }
            items.append(
                .functionCall(
                    callID: call["id"] as? String ?? "call_\(id.dropFirst("resp_".count))_\(index)",
                    name: function["name"] as? String ?? "", arguments: function["arguments"] as? String ?? ""))
        }
        return Self.encode(
            json(items: items, ending: Ending(finishReason: choice["finish_reason"] as? String), usage: Usage(chat: completion["usage"])))
    }
}
