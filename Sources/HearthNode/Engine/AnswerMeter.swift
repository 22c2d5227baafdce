import Foundation
import HearthCore
import HearthProtocol
import NIOCore
import NIOFoundationCompat

/// Reads an engine's answer as it passes through the node: finds the token counts, and in a
/// stream drops the usage-only chunk the node asked for on the client's behalf when the client
/// did not ask for it.
///
/// It also removes what would tell a client how much of its prompt the engine found cached
/// (`usage.prompt_tokens_details`, with `cached_tokens`, llama.cpp's `timings`, with `cache_n`, and
/// `prompt_progress`; ``cacheDetailKeys``):
/// a tenant must not learn from them that another tenant sent the same prefix (docs/SECURITY.md, Tenants).
/// Both are cut out byte-level, without re-encoding the answer.
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
    /// A non-streamed answer is held until ``finish()`` (the gateway buffers it whole anyway), so that its
    /// cached-token details can be removed; `take` then returns an empty buffer, which marks the first byte.
    mutating func take(_ chunk: ByteBuffer) -> ByteBuffer? {
        guard streaming else {
            whole.writeImmutableBuffer(chunk)
            sawFirstContent = true
            return ByteBuffer()
        }
        var chunk = chunk
        pending.writeBuffer(&chunk)
        var out = ByteBuffer()
        while let event = nextEvent() {
            if var kept = keep(event) {
                out.writeBuffer(&kept)
            }
        }
        return out.readableBytes > 0 ? out : nil
    }

    /// Call at the end of the answer: flushes any unterminated tail (a non-streamed answer: all of it) and
    /// settles usage.
    mutating func finish() -> ByteBuffer? {
        if !streaming {
            // Parse only the usage object, not the whole answer (which may be long).
            if let slice = Self.usageObject(in: whole.readableBytesView),
                let counts = try? JSONSerialization.jsonObject(with: Data(slice)) as? [String: Any]
            {
                usage = Self.usage(in: ["usage": counts])
            }
            defer { whole.clear() }
            guard whole.readableBytes > 0 else { return nil }
            return Self.redacted(whole)
        }
        guard pending.readableBytes > 0 else { return nil }
        defer { pending.clear() }
        return Self.redacted(pending)
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

    /// The event to forward (cached-token details removed), or nil to drop it.
    private mutating func keep(_ event: ByteBuffer) -> ByteBuffer? {
        // Most events are content: recognise them from the bytes, without building strings or parsing JSON.
        let view = event.readableBytesView
        guard let dataStart = Self.find(Self.dataPrefix, in: view) else { return event }
        if Self.find(Self.doneMarker, in: view[dataStart...]) != nil { return event }
        guard Self.find(Self.usageKey, in: view) != nil else {
            contentChunks += 1
            sawFirstContent = true
            return Self.redacted(event)
        }
        let payload = String(decoding: view[(dataStart + Self.dataPrefix.count)...], as: UTF8.self)
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any] else {
            return Self.redacted(event)
        }
        if let found = Self.usage(in: object) { usage = found }
        let choices = object["choices"] as? [Any] ?? []
        if choices.isEmpty {
            return forwardUsageChunk ? Self.redacted(event) : nil
        }
        contentChunks += 1
        sawFirstContent = true
        return Self.redacted(event)
    }

    // MARK: cache details

    /// Keys whose values tell a client how much of its prompt was cached: OpenAI/vLLM `prompt_tokens_details`
    /// (`cached_tokens`), llama.cpp's `timings` (`cache_n`, and prompt milliseconds that reveal the same) and
    /// `prompt_progress` (its `cache` count, streamed while the prompt is read), and the bare counts engines put
    /// elsewhere (`cached_tokens`, llama.cpp's `tokens_cached`).
    static let cacheDetailKeys: [[UInt8]] = ["prompt_tokens_details", "timings", "prompt_progress", "cached_tokens", "tokens_cached"]
        .map { Array($0.utf8) }

    /// `bytes` without any ``cacheDetailKeys`` member (key, value and one separating comma), or `bytes` itself
    /// when it has none. Strings are skipped, so text that merely mentions a key is never touched.
    static func redacted(_ bytes: ByteBuffer) -> ByteBuffer {
        let view = bytes.readableBytesView
        guard cacheDetailKeys.contains(where: { find($0, in: view) != nil }) else { return bytes }
        guard let stripped = stripCacheDetails(Array(view)) else { return bytes }
        return ByteBuffer(bytes: stripped)
    }

    /// The byte-level removal behind ``redacted(_:)``; nil when nothing was removed.
    static func stripCacheDetails(_ bytes: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        var changed = false
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\"") else {
                out.append(byte)
                index += 1
                continue
            }
            guard let stringEnd = skipString(bytes, from: index) else {
                out.append(contentsOf: bytes[index...])
                break
            }
            let name = bytes[(index + 1)..<(stringEnd - 1)]
            if cacheDetailKeys.contains(where: { $0.elementsEqual(name) }),
                let colon = skipWhitespace(bytes, from: stringEnd), colon < bytes.count, bytes[colon] == UInt8(ascii: ":"),
                let valueStart = skipWhitespace(bytes, from: colon + 1), let valueEnd = skipValue(bytes, from: valueStart)
            {
                // Remove `"key": value` and one comma: the one before it, else the one after it.
                while let last = out.last, isWhitespace(last) { out.removeLast() }
                var next = valueEnd
                if out.last == UInt8(ascii: ",") {
                    out.removeLast()
                } else if let after = skipWhitespace(bytes, from: valueEnd), after < bytes.count, bytes[after] == UInt8(ascii: ",") {
                    next = skipWhitespace(bytes, from: after + 1) ?? after + 1
                }
                index = next
                changed = true
                continue
            }
            out.append(contentsOf: bytes[index..<stringEnd])
            index = stringEnd
        }
        return changed ? out : nil
    }

    /// Index just past the string that opens at `start` (a quote), or nil when it does not end.
    private static func skipString(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index + 1
            default: index += 1
            }
        }
        return nil
    }

    private static func skipWhitespace(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index < bytes.count, isWhitespace(bytes[index]) { index += 1 }
        return index
    }

    /// Index just past the JSON value that starts at `start`, or nil when it is cut off.
    private static func skipValue(_ bytes: [UInt8], from start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return skipString(bytes, from: start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var index = start
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    guard let end = skipString(bytes, from: index) else { return nil }
                    index = end
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return index + 1 }
                default:
                    break
                }
                index += 1
            }
            return nil
        default:
            var index = start
            while index < bytes.count, !isWhitespace(bytes[index]),
                ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[index])
            {
                index += 1
            }
            return index > start ? index : nil
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    private static let dataPrefix = Array("data:".utf8)
    private static let doneMarker = Array("[DONE]".utf8)
    private static let usageKey = Array("\"usage\"".utf8)

    /// Index of the first occurrence of `needle` in `haystack`.
    static func find(_ needle: [UInt8], in haystack: ByteBufferView) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        // memchr to each candidate and memcmp on the buffer's own storage: every event is searched for several keys on
        // the hot path, and libc's vectorised scans are several times faster than a byte loop through the view.
        if let found = haystack.withContiguousStorageIfAvailable({ bytes -> Int? in
            needle.withUnsafeBytes { pattern -> Int? in
                guard let base = UnsafeRawPointer(bytes.baseAddress), let patternBase = pattern.baseAddress else { return nil }
                var offset = 0
                let last = bytes.count - pattern.count
                while offset <= last, let hit = memchr(base + offset, Int32(first), last - offset + 1) {
                    let at = UnsafeRawPointer(hit) - base
                    if memcmp(base + at, patternBase, pattern.count) == 0 { return haystack.startIndex + at }
                    offset = at + 1
                }
                return nil
            }
        }) {
            return found
        }
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
        let cached = (usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int
        return TokenUsage(promptTokens: prompt, completionTokens: completion, reportedByEngine: true, cachedPromptTokens: cached)
    }

    /// The request body to send the engine for a gateway's stream: the usage chunk requested (see
    /// ``engineBody(for:streaming:clientAskedForUsage:)``) and the gateway's prompt-cache control applied
    /// (``applyingCacheControl(_:to:salt:)``).
    static func engineBody(for body: ByteBuffer, header: StreamOpen) -> ByteBuffer {
        let patched = engineBody(for: body, streaming: header.stream, clientAskedForUsage: header.clientWantsUsageChunk)
        return applyingCacheControl(header.cacheControlMode, to: patched, salt: header.cacheSalt)
    }

    /// Sets the engine's cache control on a request body, overwriting whatever the client sent:
    /// `.salt` → `"cache_salt": salt` (a salt that is missing or not hex is replaced by a random one: no reuse
    /// at all rather than a shared partition); `.disablePromptCache` → `"cache_prompt": false` and a fresh random
    /// `cache_salt`, so that neither an engine without salts (llama.cpp) nor one whose salts were never shown to
    /// work shares this prompt's cache with any other request.
    ///
    /// The gateway's body has each top-level key once and unescaped (its allow-list drops both fields), so the field
    /// goes before the final `}` without parsing the rest; a body that has it anyway is re-encoded with the field
    /// replaced (duplicate keys are not left to chance).
    static func applyingCacheControl(_ mode: CacheControlMode?, to body: ByteBuffer, salt: String?) -> ByteBuffer {
        switch mode {
        case nil, .engineDefault:
            return body
        case .salt:
            let valid = salt.map { !$0.isEmpty && $0.utf8.count <= 128 && $0.utf8.allSatisfy(isHexDigit) } ?? false
            let chosen = valid ? salt! : randomSalt()
            return setting("cache_salt", to: chosen, encoded: "\"" + chosen + "\"", in: body)
        case .disablePromptCache:
            let fresh = randomSalt()
            let uncached = setting("cache_prompt", to: false, encoded: "false", in: body)
            return setting("cache_salt", to: fresh, encoded: "\"" + fresh + "\"", in: uncached)
        }
    }

    /// `body` with the top-level `key` set to `value` (`encoded`: its JSON).
    static func setting(_ key: String, to value: Any, encoded: String, in body: ByteBuffer) -> ByteBuffer {
        let view = body.readableBytesView
        if find(Array("\"\(key)\"".utf8), in: view) == nil,
            let close = view.lastIndex(where: { !isWhitespace($0) }), view[close] == UInt8(ascii: "}"),
            let before = view[view.startIndex..<close].lastIndex(where: { !isWhitespace($0) })
        {
            var patched = ByteBuffer()
            patched.reserveCapacity(body.readableBytes + key.utf8.count + encoded.utf8.count + 8)
            patched.writeBytes(view[view.startIndex..<close])
            patched.writeString((view[before] == UInt8(ascii: "{") ? "" : ",") + "\"\(key)\":" + encoded + "}")
            return patched
        }
        guard var object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else { return body }
        object[key] = value
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { return body }
        return ByteBuffer(data: data)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }

    private static func randomSalt() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.random(bytes: 32, using: &generator)
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
