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
            // Parse only the usage object, not the whole answer (which may be long).
            if let slice = Self.usageObject(in: whole.readableBytesView),
                let counts = try? JSONSerialization.jsonObject(with: Data(slice)) as? [String: Any]
            {
                usage = Self.usage(in: ["usage": counts])
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
        // Most events are content: recognise them from the bytes, without building strings or parsing JSON.
        let view = event.readableBytesView
        guard let dataStart = Self.find(Self.dataPrefix, in: view) else { return true }
        if Self.find(Self.doneMarker, in: view[dataStart...]) != nil { return true }
        guard Self.find(Self.usageKey, in: view) != nil else {
            contentChunks += 1
            sawFirstContent = true
            return true
        }
        let payload = String(decoding: view[(dataStart + Self.dataPrefix.count)...], as: UTF8.self)
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

    private static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    private static let dataPrefix = Array("data:".utf8)
    private static let doneMarker = Array("[DONE]".utf8)
    private static let usageKey = Array("\"usage\"".utf8)

    /// Index of the first occurrence of `needle` in `haystack`.
    private static func find(_ needle: [UInt8], in haystack: ByteBufferView) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == first {
                var matched = 1
                while matched < needle.count, haystack[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return index }
            }
            index += 1
        }
        return nil
    }

    /// The bytes of the object that follows the last top-level-looking `"usage":` key, braces matched
    /// (strings are skipped so braces inside text do not count).
    static func usageObject(in view: ByteBufferView) -> ByteBufferView? {
        var searchFrom = view.startIndex
        var lastKey: Int?
        while let found = find(usageKey, in: view[searchFrom...]) {
            lastKey = found
            searchFrom = found + usageKey.count
        }
        guard let key = lastKey,
            let open = view[(key + usageKey.count)...].firstIndex(where: { !isWhitespace($0) && $0 != UInt8(ascii: ":") }),
            view[open] == UInt8(ascii: "{")
        else { return nil }
        var depth = 0
        var inString = false
        var escaped = false
        var index = open
        while index < view.endIndex {
            let byte = view[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if byte == UInt8(ascii: "{") {
                depth += 1
            } else if byte == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return view[open...index] }
            }
            index += 1
        }
        return nil
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
        guard streaming, !clientAskedForUsage else { return body }
        // Fast path: the body has no stream_options at all (the gateway checked it is a JSON object),
        // so the field can go right after the opening brace without parsing the rest.
        let view = body.readableBytesView
        if find(Array("\"stream_options\"".utf8), in: view) == nil,
            let brace = view.firstIndex(where: { $0 == UInt8(ascii: "{") }),
            view[view.startIndex..<brace].allSatisfy(isWhitespace),
            let next = view[(brace + 1)...].first(where: { !isWhitespace($0) }), next != UInt8(ascii: "}")
        {
            var patched = ByteBuffer()
            patched.reserveCapacity(body.readableBytes + 48)
            patched.writeString("{\"stream_options\":{\"include_usage\":true},")
            patched.writeBytes(view[(brace + 1)...])
            return patched
        }
        guard
            var object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        else { return body }
        var options = object["stream_options"] as? [String: Any] ?? [:]
        options["include_usage"] = true
        object["stream_options"] = options
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { return body }
        return ByteBuffer(data: data)
    }
}
