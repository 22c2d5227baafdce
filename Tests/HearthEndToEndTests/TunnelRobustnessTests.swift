import Foundation
import HearthCore
import HearthGateway
import HearthProtocol
import HearthTunnel
import NIOCore
import Testing

/// A node is untrusted input: whatever it sends, the gateway answers clearly and keeps serving.
@Suite("Tunnel robustness against confused or hostile nodes")
struct TunnelRobustnessTests {
    @Test("garbage bytes get an error frame and the connection is closed")
    func garbage() async throws {
        try await withTestFleet(nodes: []) { fleet in
            let node = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            var bytes = ByteBuffer()
            bytes.writeInteger(UInt32(0xFFFF_FFF0))  // an absurd length
            try await node.sendRaw(bytes)
            var frames = node.frames.makeAsyncIterator()
            let error = try #require(await frames.next())
            #expect(error.kind == .error)
            #expect(try error.decodeJSON(TunnelErrorMessage.self).code == .frameTooLarge)
            #expect(await frames.next() == nil)  // closed
            #expect(try await fleet.get("/healthz").status == 200)
        }
    }

    @Test("a protocol version mismatch is refused by name, and nothing registers")
    func versionMismatch() async throws {
        try await withTestFleet(nodes: []) { fleet in
            let node = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await node.send(.json(.hello, RawNode.hello(id: "future", version: 99)))
            var frames = node.frames.makeAsyncIterator()
            let error = try #require(await frames.next())
            let message = try error.decodeJSON(TunnelErrorMessage.self)
            #expect(message.code == .versionMismatch)
            #expect(message.message.contains("99"))
            #expect(await frames.next() == nil)
            #expect(fleet.gateway.connectedNodes.isEmpty)
        }
    }

    @Test("frames before hello, and invalid hellos, are refused")
    func notRegistered() async throws {
        try await withTestFleet(nodes: []) { fleet in
            let early = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await early.send(TunnelFrame(kind: .data, stream: 1, payload: ByteBuffer(string: "x")))
            var frames = early.frames.makeAsyncIterator()
            #expect(try #require(await frames.next()).decodeJSON(TunnelErrorMessage.self).code == .notRegistered)

            let invalid = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await invalid.send(.json(.hello, RawNode.hello(id: "bad id with spaces")))
            var invalidFrames = invalid.frames.makeAsyncIterator()
            #expect(try #require(await invalidFrames.next()).decodeJSON(TunnelErrorMessage.self).code == .malformedFrame)
            #expect(fleet.gateway.connectedNodes.isEmpty)
        }
    }

    @Test("a connection that never says hello is closed after the hello timeout")
    func silentBeforeHello() async throws {
        try await withTestFleet(nodes: [], configure: { $0.tunnel.helloTimeout = .milliseconds(100) }) { fleet in
            let node = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            // Half a frame: the gateway cannot tell it from a slow node, only the deadline ends it.
            try await node.sendRaw(ByteBuffer(bytes: [0, 0, 0, 64, 1]))
            var frames = node.frames.makeAsyncIterator()
            let refusal = try #require(await frames.next())
            #expect(try refusal.decodeJSON(TunnelErrorMessage.self).code == .notRegistered)
            #expect(await frames.next() == nil)
        }
    }

    @Test("data for an unknown stream is answered with a cancel and the node stays registered")
    func unknownStream() async throws {
        try await withTestFleet(nodes: []) { fleet in
            var registry = fleet.gateway.registry.events().makeAsyncIterator()
            let node = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await node.send(.json(.hello, RawNode.hello(id: "raw")))
            var frames = node.frames.makeAsyncIterator()
            #expect(await frames.next()?.kind == .welcome)
            #expect(await registry.next() == .registered(NodeID("raw")))
            try await node.send(TunnelFrame(kind: .data, stream: 4242, payload: ByteBuffer(string: "stray")))
            let answer = try #require(await frames.next())
            #expect(answer.kind == .cancel && answer.stream == 4242)
            #expect(fleet.gateway.connectedNodes == [NodeID("raw")])
        }
    }

    @Test("a node that overruns its flow-control window fails only that stream")
    func windowOverrun() async throws {
        try await withTestFleet(nodes: [], configure: { $0.tunnel.heartbeatInterval = .seconds(60) }) { fleet in
            let node = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await node.send(.json(.hello, RawNode.hello(id: "greedy")))
            var frames = node.frames.makeAsyncIterator()
            #expect(await frames.next()?.kind == .welcome)
            // A client that asks for a stream and never reads it: the gateway grants no more window.
            let body = try JSONSerialization.data(withJSONObject: chatBody(model: "test-model", stream: true))
            let client = try await RawConnection.connect(host: "127.0.0.1", port: fleet.addresses.httpPort)
            var request = ByteBuffer(string: "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(fleet.apiKey)\r\n")
            request.writeString("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
            request.writeBytes(body)
            try await client.channel.setOption(.autoRead, value: false)
            try await client.send(request)
            let open = try #require(await frames.next())
            #expect(open.kind == .open)
            try await node.send(StreamMessageCodec.head(StreamHead(status: 200, contentType: "text/event-stream"), stream: open.stream))
            // 32 MiB of whole events ignoring the window: far more than socket buffers can hide. (Whole events: a
            // partial one is held by the gateway, not the client, and fails as an oversized event instead.)
            var chunk = ByteBuffer(string: "data: ")
            chunk.writeRepeatingByte(UInt8(ascii: "x"), count: (64 << 10) - 8)
            chunk.writeString("\n\n")
            for _ in 0..<512 {
                node.channel.write(TunnelFrame(kind: .data, stream: open.stream, payload: chunk), promise: nil)
            }
            node.channel.flush()
            var refusal: TunnelErrorMessage?
            while refusal == nil, let frame = await frames.next() {
                if frame.kind == .error, frame.stream == open.stream { refusal = try frame.decodeJSON(TunnelErrorMessage.self) }
            }
            #expect(refusal?.code == .flowControl)
            #expect(fleet.gateway.connectedNodes == [NodeID("greedy")])
            try await client.close()
        }
    }

    @Test("a non-streamed answer over the size limit fails with 502 and the node stays")
    func answerTooLarge() async throws {
        try await withTestFleet(nodes: [], configure: { $0.maximumAnswerBytes = 100_000 }) { fleet in
            let node = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await node.send(.json(.hello, RawNode.hello(id: "verbose")))
            var frames = node.frames.makeAsyncIterator()
            #expect(await frames.next()?.kind == .welcome)
            async let response = fleet.post(json: chatBody(model: "test-model"))
            let open = try #require(await frames.next())
            try await node.send(StreamMessageCodec.head(StreamHead(status: 200, contentType: "application/json"), stream: open.stream))
            for _ in 0..<3 {
                try await node.send(TunnelFrame(kind: .data, stream: open.stream, payload: ByteBuffer(repeating: 0x20, count: 60_000)))
            }
            #expect(try await response.status == 502)
            #expect(fleet.gateway.connectedNodes == [NodeID("verbose")])
        }
    }

    @Test("a node that stops sending heartbeats is dropped within a few intervals")
    func missedHeartbeats() async throws {
        try await withTestFleet(
            nodes: [],
            configure: {
                $0.tunnel.heartbeatInterval = .milliseconds(50)
                $0.tunnel.missedHeartbeatsBeforeDead = 3
            }
        ) { fleet in
            var registry = fleet.gateway.registry.events().makeAsyncIterator()
            let node = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await node.send(.json(.hello, RawNode.hello(id: "silent")))
            let started = ContinuousClock.now
            #expect(await registry.next() == .registered(NodeID("silent")))
            #expect(await registry.next() == .removed(NodeID("silent"), reason: "tunnel closed"))
            // Dropped after 3 silent intervals, checked each interval: well under a second here.
            #expect(ContinuousClock.now - started < .seconds(5))
        }
    }
}
