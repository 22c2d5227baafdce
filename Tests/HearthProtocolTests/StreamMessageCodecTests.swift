import HearthProtocol
import HearthTunnel
import NIOCore
import Testing

/// The binary `open`, `head` and `end` layouts: every field survives the trip, and no payload a node or gateway can
/// send makes the decoder trap, loop or accept a frame it did not fully understand.
@Suite struct StreamMessageCodecTests {
    static let ends: [StreamEnd] = [
        StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: nil),
        StreamEnd(
            usage: TokenUsage(promptTokens: 210, completionTokens: 48, reportedByEngine: true, cachedPromptTokens: 128),
            engineTimeToFirstTokenMilliseconds: 12.5, error: nil),
        StreamEnd(
            usage: TokenUsage(promptTokens: -1, completionTokens: Int(Int64.max), reportedByEngine: false),
            engineTimeToFirstTokenMilliseconds: 0,
            error: TunnelErrorMessage(code: .engineFailed, message: "engine answered 500: überlastet")),
        StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: TunnelErrorMessage(code: .notAdmitting, message: "")),
    ]

    @Test func everyFieldSurvivesTheTrip() throws {
        for end in Self.ends {
            #expect(try StreamMessageCodec.decodeEnd(StreamMessageCodec.end(end, stream: 7)) == end)
        }
        for head in [StreamHead(status: 200, contentType: "text/event-stream"), StreamHead(status: 503, contentType: "")] {
            let frame = StreamMessageCodec.head(head, stream: 9)
            #expect(frame.kind == .head && frame.stream == 9)
            #expect(try StreamMessageCodec.decodeHead(frame) == head)
        }
        let body = ByteBuffer(string: #"{"model":"m","unknown_field":[1,2,3]}"#)
        for header in [
            StreamOpen(path: "/v1/chat/completions", stream: true, clientWantsUsageChunk: false, requestID: "hearth-1"),
            StreamOpen(
                path: "/v1/completions", stream: false, clientWantsUsageChunk: true, requestID: "r", cacheControl: .salt, cacheSalt: "ab12"),
            StreamOpen(path: "/v1/completions", stream: false, clientWantsUsageChunk: false, requestID: "", cacheControl: .engineDefault),
        ] {
            let decoded = try StreamMessageCodec.decodeOpen(StreamMessageCodec.open(header, body: body, stream: 3))
            #expect(decoded.header == header)
            #expect(decoded.body == body)
        }
    }

    @Test func anErrorCodeFromANewerPeerIsOther() throws {
        var payload = ByteBuffer()
        payload.writeInteger(UInt8(16))
        for field in ["from_the_future", "hi"] {
            payload.writeInteger(UInt16(field.utf8.count))
            payload.writeString(field)
        }
        let end = try StreamMessageCodec.decodeEnd(TunnelFrame(kind: .end, stream: 1, payload: payload))
        #expect(end.error == TunnelErrorMessage(code: .other, message: "hi"))
    }

    @Test func aStatusThatIsNoHTTPStatusIsSentAsZero() throws {
        #expect(
            try StreamMessageCodec.decodeHead(StreamMessageCodec.head(StreamHead(status: 70_000, contentType: "x"), stream: 1)).status == 0)
        #expect(try StreamMessageCodec.decodeHead(StreamMessageCodec.head(StreamHead(status: -1, contentType: "x"), stream: 1)).status == 0)
    }

    @Test func aLongStringIsCutAtACharacterBoundary() throws {
        let message = String(repeating: "é", count: 40_000)  // 80,000 bytes
        let end = StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: TunnelErrorMessage(code: .other, message: message))
        let decoded = try StreamMessageCodec.decodeEnd(StreamMessageCodec.end(end, stream: 1))
        let cut = try #require(decoded.error?.message)
        #expect(cut.utf8.count == 65_534)
        #expect(message.hasPrefix(cut))
    }

    static func isMalformed(_ error: any Error) -> Bool { (error as? TunnelErrorMessage)?.code == .malformedFrame }

    @Test func everyTruncationAndEveryExtraByteIsMalformed() throws {
        for end in Self.ends {
            let full = StreamMessageCodec.end(end, stream: 1)
            for length in 0..<full.payload.readableBytes {
                let cut = TunnelFrame(kind: .end, stream: 1, payload: full.payload.getSlice(at: full.payload.readerIndex, length: length)!)
                #expect(throws: TunnelErrorMessage.self) { try StreamMessageCodec.decodeEnd(cut) }
            }
            var longer = full
            longer.payload.writeInteger(UInt8(0))
            #expect { try StreamMessageCodec.decodeEnd(longer) } throws: { Self.isMalformed($0) }
        }
        let head = StreamMessageCodec.head(StreamHead(status: 200, contentType: "application/json"), stream: 1)
        for length in 0..<head.payload.readableBytes {
            let cut = TunnelFrame(kind: .head, stream: 1, payload: head.payload.getSlice(at: head.payload.readerIndex, length: length)!)
            #expect { try StreamMessageCodec.decodeHead(cut) } throws: { Self.isMalformed($0) }
        }
        let open = StreamMessageCodec.open(
            StreamOpen(path: "/v1/completions", stream: true, clientWantsUsageChunk: true, requestID: "r", cacheSalt: "s"),
            body: ByteBuffer(),
            stream: 1)
        for length in 0..<open.payload.readableBytes {
            let cut = TunnelFrame(kind: .open, stream: 1, payload: open.payload.getSlice(at: open.payload.readerIndex, length: length)!)
            #expect { try StreamMessageCodec.decodeOpen(cut) } throws: { Self.isMalformed($0) }
        }
    }

    @Test func unknownFlagsInvalidTextAndNonFiniteNumbersAreMalformed() {
        func frame(_ kind: TunnelFrameKind, _ bytes: [UInt8]) -> TunnelFrame {
            TunnelFrame(kind: kind, stream: 1, payload: ByteBuffer(bytes: bytes))
        }
        #expect { try StreamMessageCodec.decodeEnd(frame(.end, [32])) } throws: { Self.isMalformed($0) }
        #expect { try StreamMessageCodec.decodeEnd(frame(.end, [2])) } throws: { Self.isMalformed($0) }
        #expect { try StreamMessageCodec.decodeOpen(frame(.open, [16, 0, 0, 0, 0])) } throws: { Self.isMalformed($0) }
        #expect { try StreamMessageCodec.decodeHead(frame(.head, [0, 200, 0, 2, 0xC3, 0x28])) } throws: { Self.isMalformed($0) }
        for bad in [Double.nan, .infinity, -.infinity] {
            var bytes: [UInt8] = [8]
            withUnsafeBytes(of: bad.bitPattern.bigEndian) { bytes += $0 }
            #expect { try StreamMessageCodec.decodeEnd(frame(.end, bytes)) } throws: { Self.isMalformed($0) }
        }
    }

    @Test func randomPayloadsNeverTrap() {
        var generator = SplitMix(seed: 0x5EED)
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 48)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let payload = ByteBuffer(bytes: bytes)
            _ = try? StreamMessageCodec.decodeEnd(TunnelFrame(kind: .end, stream: 1, payload: payload))
            _ = try? StreamMessageCodec.decodeHead(TunnelFrame(kind: .head, stream: 1, payload: payload))
            _ = try? StreamMessageCodec.decodeOpen(TunnelFrame(kind: .open, stream: 1, payload: payload))
        }
    }
}

/// A seeded generator: the same bytes every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
