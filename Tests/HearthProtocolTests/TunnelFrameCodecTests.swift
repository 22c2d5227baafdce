import HearthCore
import HearthProtocol
import HearthTunnel
import NIOCore
import NIOEmbedded
import Testing

@Suite("Tunnel frame codec")
struct TunnelFrameCodecTests {
    func encode(_ frame: TunnelFrame) throws -> ByteBuffer {
        var out = ByteBuffer()
        try TunnelFrameEncoder().encode(data: frame, out: &out)
        return out
    }

    @Test("frames survive a round trip, split at any byte")
    func roundTrip() throws {
        let hello = NodeHello(
            nodeID: NodeID("n1"),
            models: [ServedModel(id: "m", contextTokens: 2048)],
            engineKind: "sim",
            hardware: HardwareSummary(cpuCores: 2, memoryBytes: 1 << 30, gpus: []),
            slots: 4
        )
        var wire = try encode(.json(.hello, hello))
        wire.writeImmutableBuffer(try encode(TunnelFrame(kind: .data, stream: 7, payload: ByteBuffer(string: "abc"))))
        wire.writeImmutableBuffer(try encode(.windowUpdate(stream: 7, bytes: 4096)))

        for split in 0...wire.readableBytes {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(TunnelFrameDecoder(maximumFrameBytes: 1 << 20)))
            try channel.writeInbound(wire.getSlice(at: 0, length: split)!)
            try channel.writeInbound(wire.getSlice(at: split, length: wire.readableBytes - split)!)
            let first = try #require(try channel.readInbound(as: TunnelFrame.self))
            #expect(first.kind == .hello)
            #expect(try first.decodeJSON(NodeHello.self) == hello)
            let second = try #require(try channel.readInbound(as: TunnelFrame.self))
            #expect(second.kind == .data && second.stream == 7 && String(buffer: second.payload) == "abc")
            let third = try #require(try channel.readInbound(as: TunnelFrame.self))
            #expect(try third.windowIncrement() == 4096)
            #expect(try channel.readInbound(as: TunnelFrame.self) == nil)
        }
    }

    @Test("a frame over the limit is refused from its length prefix alone")
    func oversized() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(TunnelFrameDecoder(maximumFrameBytes: 1024)))
        var prefix = ByteBuffer()
        prefix.writeInteger(UInt32(1 << 30))  // claims a gigabyte; only 4 bytes sent
        #expect {
            try channel.writeInbound(prefix)
        } throws: { error in
            (error as? TunnelErrorMessage)?.code == .frameTooLarge
        }
    }

    @Test("unknown kinds and short frames are malformed")
    func malformed() throws {
        var unknown = ByteBuffer()
        unknown.writeInteger(UInt32(5))
        unknown.writeInteger(UInt8(200))
        unknown.writeInteger(UInt32(1))
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(TunnelFrameDecoder(maximumFrameBytes: 1024)))
        #expect { try channel.writeInbound(unknown) } throws: { ($0 as? TunnelErrorMessage)?.code == .malformedFrame }

        var short = ByteBuffer()
        short.writeInteger(UInt32(2))
        short.writeInteger(UInt16(0))
        let other = EmbeddedChannel(handler: ByteToMessageHandler(TunnelFrameDecoder(maximumFrameBytes: 1024)))
        #expect { try other.writeInbound(short) } throws: { ($0 as? TunnelErrorMessage)?.code == .malformedFrame }
    }

    @Test("an open frame carries its header and the body unchanged")
    func openFrame() throws {
        let header = StreamOpen(path: "/v1/chat/completions", stream: true, clientWantsUsageChunk: false, requestID: "r1")
        let body = ByteBuffer(string: #"{"model":"m","unknown_field":[1,2,3]}"#)
        let frame = StreamMessageCodec.open(header, body: body, stream: 3)
        let decoded = try StreamMessageCodec.decodeOpen(frame)
        #expect(decoded.header == header)
        #expect(decoded.body == body)

        var truncated = frame
        truncated.payload = frame.payload.getSlice(at: frame.payload.readerIndex, length: 6)!
        #expect { try StreamMessageCodec.decodeOpen(truncated) } throws: { ($0 as? TunnelErrorMessage)?.code == .malformedFrame }
    }

    @Test("error codes from a newer peer decode as other")
    func unknownErrorCode() throws {
        let frame = TunnelFrame(kind: .error, payload: ByteBuffer(string: #"{"code":"from_the_future","message":"hi"}"#))
        #expect(try frame.decodeJSON(TunnelErrorMessage.self).code == .other)
    }
}
