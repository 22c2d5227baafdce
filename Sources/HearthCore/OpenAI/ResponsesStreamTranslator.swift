import Foundation

/// Turns a streamed chat completion (`data: {chunk}` events, then `data: [DONE]`) into the Responses API's typed
/// events: `response.created`, `response.in_progress`, per item `response.output_item.added`, text or argument
/// deltas and their `done` events, `response.output_item.done`, and at the end `response.completed`,
/// `response.incomplete` or, when the chat stream carried an error, `response.failed`.
///
/// Fed the bytes the client would have got, in order (whole events, a failover's spliced stream included); what a
/// node sends is not trusted: unparsable events are skipped, and items and buffered bytes are bounded.
public struct ResponsesStreamTranslator: Sendable {
    private let object: ResponsesObject
    private var sequence = 0
    private var started = false
    private var ended = false
    /// Bytes of an event whose blank line has not come yet.
    private var pending: [UInt8] = []
    private var items: [Slot] = []
    /// The message item that text deltas go to, while one is open.
    private var openMessage: Int?
    /// Output index of each chat tool-call index.
    private var calls: [Int: Int] = [:]
    private var usage: ResponsesObject.Usage?
    private var finishReason: String?

    /// More output items than any real answer has; a node that sends more gets them dropped.
    public static let maximumItems = 128
    /// A partial event longer than this is dropped (the gateway relays whole events far shorter).
    public static let maximumPendingBytes = 4 << 20

    private struct Slot: Sendable {
        var isMessage: Bool
        var text = ""
        var callID = ""
        var name = ""
        var done = false

        var item: ResponsesObject.Item {
            isMessage ? .message(text: text) : .functionCall(callID: callID, name: name, arguments: text)
        }
    }

    public init(object: ResponsesObject) {
        self.object = object
    }

    /// The Responses events for `bytes` of the chat stream.
    public mutating func translate(_ bytes: some Collection<UInt8>) -> [UInt8] {
        guard !ended else { return [] }
        pending.append(contentsOf: bytes)
        var out: [UInt8] = []
        while let (event, next) = Self.firstEvent(in: pending) {
            handle(event, into: &out)
            pending.removeFirst(next)
            if ended { pending = [] }
        }
        if pending.count > Self.maximumPendingBytes { pending = [] }
        return out
    }

    /// The stream's end: a chat stream cut short of `[DONE]` still ends its response (as completed with what came, or
    /// as it ended). Nothing once the response has ended.
    public mutating func finish() -> [UInt8] {
        var out: [UInt8] = []
        if !pending.isEmpty {
            let last = pending
            pending = []
            if let (event, _) = Self.firstEvent(in: last + Array("\n\n".utf8)) { handle(event, into: &out) }
        }
        if !ended { complete(into: &out) }
        return out
    }

    /// The `data:` payload of the first whole event and the bytes it spans (LF or CRLF line ends).
    public static func firstEvent(in bytes: [UInt8]) -> (String, Int)? {
        var index = 0
        while index + 1 < bytes.count {
            if bytes[index] == 0x0A, bytes[index + 1] == 0x0A { return (data(of: bytes[..<index]), index + 2) }
            if index + 3 < bytes.count, bytes[index] == 0x0D, bytes[index + 1] == 0x0A, bytes[index + 2] == 0x0D, bytes[index + 3] == 0x0A {
                return (data(of: bytes[..<index]), index + 4)
            }
            index += 1
        }
        return nil
    }

    private static func data(of event: ArraySlice<UInt8>) -> String {
        String(decoding: event, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .compactMap { line -> Substring? in
                guard line.hasPrefix("data:") else { return nil }
                let value = line.dropFirst(5)
                return value.hasPrefix(" ") ? value.dropFirst() : value
            }
            .joined(separator: "\n")
    }

    private mutating func handle(_ data: String, into out: inout [UInt8]) {
        if data == "[DONE]" { return complete(into: &out) }
        guard let chunk = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] else { return }
        start(into: &out)
        if let error = chunk["error"] {
            let details = error as? [String: Any]
            let message = details?["message"] as? String ?? "The node failed."
            let code = details?["code"] as? String
            return fail(code.map { "\(message) (\($0))" } ?? message, into: &out)
        }
        if let counted = ResponsesObject.Usage(chat: chunk["usage"]) { usage = counted }
        guard let choice = (chunk["choices"] as? [Any])?.first as? [String: Any] else { return }
        let delta = choice["delta"] as? [String: Any] ?? [:]
        if let text = delta["content"] as? String, !text.isEmpty { appendText(text, into: &out) }
        for case let call as [String: Any] in (delta["tool_calls"] as? [Any]) ?? [] { appendCall(call, into: &out) }
        if let reason = choice["finish_reason"] as? String {
            finishReason = reason
            closeItems(into: &out)
        }
    }

    private mutating func start(into out: inout [UInt8]) {
        guard !started else { return }
        started = true
        let response = object.json(items: [], ending: nil, usage: nil)
        emit("response.created", ["response": response], into: &out)
        emit("response.in_progress", ["response": response], into: &out)
    }

    private mutating func appendText(_ text: String, into out: inout [UInt8]) {
        if openMessage == nil {
            guard items.count < Self.maximumItems else { return }
            openMessage = items.count
            items.append(Slot(isMessage: true))
            let index = items.count - 1
            emit(
                "response.output_item.added", ["output_index": index, "item": object.json(items[index].item, at: index, done: false)],
                into: &out)
            emit(
                "response.content_part.added",
                ["item_id": itemID(index), "output_index": index, "content_index": 0, "part": object.textPart("")], into: &out)
        }
        guard let index = openMessage else { return }
        items[index].text += text
        emit(
            "response.output_text.delta",
            ["item_id": itemID(index), "output_index": index, "content_index": 0, "delta": text, "logprobs": [Any]()], into: &out)
    }

    private mutating func appendCall(_ call: [String: Any], into out: inout [UInt8]) {
        let chatIndex = call["index"] as? Int ?? 0
        let function = call["function"] as? [String: Any] ?? [:]
        let index: Int
        if let known = calls[chatIndex], !items[known].done {
            index = known
        } else {
            guard items.count < Self.maximumItems else { return }
            // A call ends the text before it: the message is complete.
            closeMessage(into: &out)
            index = items.count
            calls[chatIndex] = index
            var slot = Slot(isMessage: false)
            slot.callID = call["id"] as? String ?? "call_\(object.id.dropFirst("resp_".count))_\(index)"
            slot.name = function["name"] as? String ?? ""
            items.append(slot)
            emit("response.output_item.added", ["output_index": index, "item": object.json(slot.item, at: index, done: false)], into: &out)
        }
        if items[index].name.isEmpty, let name = function["name"] as? String { items[index].name = name }
        if let arguments = function["arguments"] as? String, !arguments.isEmpty {
            items[index].text += arguments
            emit(
                "response.function_call_arguments.delta", ["item_id": itemID(index), "output_index": index, "delta": arguments], into: &out)
        }
    }

    private mutating func closeMessage(into out: inout [UInt8]) {
        guard let index = openMessage else { return }
        openMessage = nil
        close(index, into: &out)
    }

    private mutating func closeItems(into out: inout [UInt8]) {
        openMessage = nil
        for index in items.indices where !items[index].done { close(index, into: &out) }
    }

    private mutating func close(_ index: Int, into out: inout [UInt8]) {
        guard !items[index].done else { return }
        items[index].done = true
        let slot = items[index]
        let id = itemID(index)
        if slot.isMessage {
            emit(
                "response.output_text.done",
                ["item_id": id, "output_index": index, "content_index": 0, "text": slot.text, "logprobs": [Any]()], into: &out)
            emit(
                "response.content_part.done",
                ["item_id": id, "output_index": index, "content_index": 0, "part": object.textPart(slot.text)], into: &out)
        } else {
            emit(
                "response.function_call_arguments.done",
                ["item_id": id, "output_index": index, "name": slot.name, "arguments": slot.text], into: &out)
        }
        emit("response.output_item.done", ["output_index": index, "item": object.json(slot.item, at: index, done: true)], into: &out)
    }

    private mutating func complete(into out: inout [UInt8]) {
        guard !ended else { return }
        start(into: &out)
        closeItems(into: &out)
        ended = true
        let ending = ResponsesObject.Ending(finishReason: finishReason)
        let type = if case .incomplete = ending { "response.incomplete" } else { "response.completed" }
        emit(type, ["response": object.json(items: items.map(\.item), ending: ending, usage: usage)], into: &out)
    }

    private mutating func fail(_ message: String, into out: inout [UInt8]) {
        closeItems(into: &out)
        ended = true
        emit(
            "response.failed", ["response": object.json(items: items.map(\.item), ending: .failed(message: message), usage: usage)],
            into: &out)
    }

    private func itemID(_ index: Int) -> String { object.itemID(items[index].item, at: index) }

    private mutating func emit(_ type: String, _ fields: [String: Any], into out: inout [UInt8]) {
        var event = fields
        event["type"] = type
        event["sequence_number"] = sequence
        sequence += 1
        out += Array("event: \(type)\ndata: ".utf8)
        out += ResponsesObject.encode(event)
        out += Array("\n\n".utf8)
    }
}
