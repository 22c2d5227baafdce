import Foundation
import HearthProtocol
import NIOCore
import NIOFoundationCompat

/// Reads an engine's answer as it passes through the node: finds the token counts, and in a
/// stream drops the usage-only chunk the node asked for on the client's behalf when the client
/// did not ask for it.
struct AnswerMeter {
    private let streaming: Bool
    private let forwardUsageChunk: Bool
    private var pending = ByteBuffer()
    private var whole = ByteBuffer()
    private(set) var usage: TokenUsage?
    /// Content chunks seen in a stream: the completion-token estimate when the engine reports no usage.
    private(set) var contentChunks = 0
    private(set) var sawFirstContent = false

    init(streaming: Bool, forwardUsageChunk: Bool) {
        self.streaming = streaming
        self.forwardUsageChunk = forwardUsageChunk
    }

    /// Takes a chunk from the engine; returns what to forward to the gateway now.
    mutating func take(_ chunk: ByteBuffer) -> ByteBuffer? {
        guard streaming else {
            whole.writeImmutableBuffer(chunk)
            sawFirstContent = true
            return chunk
        }
        var chunk = chunk
        pending.writeBuffer(&chunk)
        var out = ByteBuffer()
        while let event = nextEvent() {
            if keep(event) {
                var event = event
                out.writeBuffer(&event)
            }
        }
        return out.readableBytes > 0 ? out : nil
    }

    /// Call at the end of the answer: flushes any unterminated tail and settles usage.
    mutating func finish() -> ByteBuffer? {
        if !streaming {
            if let object = try? JSONSerialization.jsonObject(with: Data(buffer: whole)) as? [String: Any] {
                usage = Self.usage(in: object)
            }
            return nil
        }
        guard pending.readableBytes > 0 else { return nil }
        defer { pending.clear() }
        return pending
    }

    private mutating func nextEvent() -> ByteBuffer? {
        let view = pending.readableBytesView
        guard let end = Self.eventEnd(in: view) else { return nil }
        let length = end - view.startIndex
        return pending.readSlice(length: length)
    }

    /// Index just past the blank line that ends the first event (`\n\n` or `\r\n\r\n`).
    private static func eventEnd(in view: ByteBufferView) -> Int? {
        var index = view.startIndex
        var newlines = 0
        while index < view.endIndex {
            switch view[index] {
            case UInt8(ascii: "\n"):
                newlines += 1
                if newlines == 2 { return index + 1 }
            case UInt8(ascii: "\r"):
                break
            default:
                newlines = 0
            }
            index += 1
        }
        return nil
    }

    private mutating func keep(_ event: ByteBuffer) -> Bool {
        let text = String(buffer: event)
        guard let dataStart = text.range(of: "data:") else { return true }
        let payload = text[dataStart.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
        if payload == "[DONE]" { return true }
        let mentionsUsage = payload.contains("\"usage\"")
        if !mentionsUsage {
            contentChunks += 1
            sawFirstContent = true
            return true
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else {
            return true
        }
        if let found = Self.usage(in: object) { usage = found }
        let choices = object["choices"] as? [Any] ?? []
        if choices.isEmpty {
            return forwardUsageChunk
        }
        contentChunks += 1
        sawFirstContent = true
        return true
    }

    private static func usage(in object: [String: Any]) -> TokenUsage? {
        guard let usage = object["usage"] as? [String: Any],
            let prompt = usage["prompt_tokens"] as? Int,
            let completion = usage["completion_tokens"] as? Int
        else { return nil }
        return TokenUsage(promptTokens: prompt, completionTokens: completion, reportedByEngine: true)
    }

    /// The request body to send the engine: asks for the usage chunk on a stream so the node can
    /// count tokens even when the client did not ask.
    static func engineBody(for body: ByteBuffer, streaming: Bool, clientAskedForUsage: Bool) -> ByteBuffer {
        guard streaming, !clientAskedForUsage,
            var object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        else { return body }
        var options = object["stream_options"] as? [String: Any] ?? [:]
        options["include_usage"] = true
        object["stream_options"] = options
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { return body }
        return ByteBuffer(data: data)
    }
}
