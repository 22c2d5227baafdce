public import HearthProtocol
public import NIOCore

/// Fixed binary layouts for the three messages every request sends (`open`'s header, `head`, `end`), instead of
/// JSON: they are on the path of every request, and a JSON coder per frame was a measurable share of the gateway's
/// CPU. Integers are big endian; a string is `length: UInt16` · UTF-8 bytes. Everything is read as hostile: a length
/// past the payload, bytes left over, invalid UTF-8, an unknown flag or a non-finite number is `malformedFrame`.
///
/// - `open`: `flags: UInt8` (1 stream, 2 client wants the usage chunk, 4 cache control follows, 8 cache salt follows)
///   · path · request id · [cache control] · [cache salt] · the request body (the rest, unparsed).
/// - `head`: `status: UInt16` · content type.
/// - `end`: `flags: UInt8` (1 usage follows, 2 reported by the engine, 4 cached prompt tokens follow, 8 engine TTFT
///   follows, 16 error follows) · [prompt tokens `Int64` · completion tokens `Int64` · [cached `Int64`]] · [TTFT ms
///   as `Float64` bits] · [error code · error message].
public enum StreamMessageCodec {
    /// The longest string a field may hold (a content type, an error message): longer is truncated when sent.
    public static let maximumStringBytes = Int(UInt16.max)

    // MARK: open

    public static func open(_ header: StreamOpen, body: ByteBuffer, stream: UInt32) -> TunnelFrame {
        var flags: UInt8 = 0
        if header.stream { flags |= 1 }
        if header.clientWantsUsageChunk { flags |= 2 }
        if header.cacheControl != nil { flags |= 4 }
        if header.cacheSalt != nil { flags |= 8 }
        var payload = ByteBuffer()
        payload.reserveCapacity(64 + header.path.utf8.count + header.requestID.utf8.count + body.readableBytes)
        payload.writeInteger(flags)
        payload.writeField(header.path)
        payload.writeField(header.requestID)
        if let control = header.cacheControl { payload.writeField(control) }
        if let salt = header.cacheSalt { payload.writeField(salt) }
        var body = body
        payload.writeBuffer(&body)
        return TunnelFrame(kind: .open, stream: stream, payload: payload)
    }

    public static func decodeOpen(_ frame: TunnelFrame) throws -> (header: StreamOpen, body: ByteBuffer) {
        var payload = frame.payload
        let flags = try payload.readFlags(known: 0b1111, frame: "open")
        var header = StreamOpen(
            path: try payload.readField("open path"), stream: flags & 1 != 0, clientWantsUsageChunk: flags & 2 != 0,
            requestID: try payload.readField("open request id"))
        if flags & 4 != 0 { header.cacheControl = try payload.readField("open cache control") }
        if flags & 8 != 0 { header.cacheSalt = try payload.readField("open cache salt") }
        return (header, payload)
    }

    // MARK: head

    public static func head(_ head: StreamHead, stream: UInt32) -> TunnelFrame {
        var payload = ByteBuffer()
        // A status outside 0...65535 is no HTTP status: sent as 0, which the gateway refuses like any invalid one.
        payload.writeInteger(UInt16(exactly: head.status) ?? 0)
        payload.writeField(head.contentType)
        return TunnelFrame(kind: .head, stream: stream, payload: payload)
    }

    public static func decodeHead(_ frame: TunnelFrame) throws -> StreamHead {
        var payload = frame.payload
        guard let status = payload.readInteger(as: UInt16.self) else { throw malformed("head is shorter than its status") }
        let head = StreamHead(status: Int(status), contentType: try payload.readField("head content type"))
        try payload.expectEnd("head")
        return head
    }

    // MARK: end

    public static func end(_ end: StreamEnd, stream: UInt32) -> TunnelFrame {
        var flags: UInt8 = 0
        if let usage = end.usage {
            flags |= 1
            if usage.reportedByEngine { flags |= 2 }
            if usage.cachedPromptTokens != nil { flags |= 4 }
        }
        if end.engineTimeToFirstTokenMilliseconds != nil { flags |= 8 }
        if end.error != nil { flags |= 16 }
        var payload = ByteBuffer()
        payload.writeInteger(flags)
        if let usage = end.usage {
            payload.writeInteger(Int64(usage.promptTokens))
            payload.writeInteger(Int64(usage.completionTokens))
            if let cached = usage.cachedPromptTokens { payload.writeInteger(Int64(cached)) }
        }
        if let ttft = end.engineTimeToFirstTokenMilliseconds { payload.writeInteger(ttft.bitPattern) }
        if let error = end.error {
            payload.writeField(error.code.rawValue)
            payload.writeField(error.message)
        }
        return TunnelFrame(kind: .end, stream: stream, payload: payload)
    }

    public static func decodeEnd(_ frame: TunnelFrame) throws -> StreamEnd {
        var payload = frame.payload
        let flags = try payload.readFlags(known: 0b1_1111, frame: "end")
        var end = StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: nil)
        if flags & 1 != 0 {
            let prompt = try payload.readCount("end prompt tokens")
            let completion = try payload.readCount("end completion tokens")
            let cached = flags & 4 != 0 ? try payload.readCount("end cached tokens") : nil
            end.usage = TokenUsage(
                promptTokens: prompt, completionTokens: completion, reportedByEngine: flags & 2 != 0, cachedPromptTokens: cached)
        } else if flags & 0b110 != 0 {
            throw malformed("end has usage flags without usage")
        }
        if flags & 8 != 0 {
            guard let bits = payload.readInteger(as: UInt64.self) else { throw malformed("end is shorter than its TTFT") }
            let ttft = Double(bitPattern: bits)
            guard ttft.isFinite else { throw malformed("end has a TTFT that is not a finite number") }
            end.engineTimeToFirstTokenMilliseconds = ttft
        }
        if flags & 16 != 0 {
            let code = try payload.readField("end error code")
            end.error = TunnelErrorMessage(
                code: TunnelErrorCode(rawValue: code) ?? .other, message: try payload.readField("end error message"))
        }
        try payload.expectEnd("end")
        return end
    }

    static func malformed(_ message: String) -> TunnelErrorMessage {
        TunnelErrorMessage(code: .malformedFrame, message: message)
    }
}

extension ByteBuffer {
    mutating func writeField(_ text: String) {
        var utf8 = Array(text.utf8)
        if utf8.count > StreamMessageCodec.maximumStringBytes {
            // Cut at a character boundary so that the field stays valid UTF-8.
            var end = StreamMessageCodec.maximumStringBytes
            while end > 0, utf8[end] & 0b1100_0000 == 0b1000_0000 { end -= 1 }
            utf8.removeSubrange(end...)
        }
        writeInteger(UInt16(utf8.count))
        writeBytes(utf8)
    }

    mutating func readField(_ name: String) throws -> String {
        guard let length = readInteger(as: UInt16.self), let bytes = readSlice(length: Int(length)) else {
            throw StreamMessageCodec.malformed("\(name) runs past the frame")
        }
        guard let text = bytes.withUnsafeReadableBytes({ String(validating: $0, as: UTF8.self) }) else {
            throw StreamMessageCodec.malformed("\(name) is not UTF-8")
        }
        return text
    }

    mutating func readFlags(known: UInt8, frame: String) throws -> UInt8 {
        guard let flags = readInteger(as: UInt8.self) else { throw StreamMessageCodec.malformed("\(frame) frame is empty") }
        guard flags & ~known == 0 else { throw StreamMessageCodec.malformed("\(frame) frame has unknown flags \(flags)") }
        return flags
    }

    /// A token count: any `Int64` parses (the gateway bounds and audits the claim, see AnswerAudit).
    fileprivate mutating func readCount(_ name: String) throws -> Int {
        guard let value = readInteger(as: Int64.self) else { throw StreamMessageCodec.malformed("\(name) runs past the frame") }
        return Int(value)
    }

    func expectEnd(_ frame: String) throws {
        guard readableBytes == 0 else { throw StreamMessageCodec.malformed("\(frame) frame has \(readableBytes) bytes too many") }
    }
}
