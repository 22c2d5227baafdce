import HearthCore
import HearthProtocol
import HearthTunnel
import Testing

/// The gateway echoes a heartbeat only when the node asks (HearthCore's `LinkProbePacer` decides): an idle fleet's
/// echoes were most of an idle gateway's work, and a beat that asks nothing still counts for liveness.
@Suite struct HeartbeatEchoTests {
    @Test func onlyBeatsThatAskAreEchoed() async throws {
        try await withTestFleet(nodes: []) { fleet in
            let node = try await RawNode.connect(port: fleet.addresses.tunnelPort, keepsEchoes: true)
            let frames = FrameReader(node)
            try await node.send(.json(.hello, RawNode.hello(id: "quiet")))
            #expect(await frames.frame()?.kind == .welcome)
            var heard = fleet.gateway.registry.heartbeats().makeAsyncIterator()
            try await node.send(
                HeartbeatCodec.heartbeat(NodeHeartbeat(sequence: 1, activeStreams: 0, engineHealthy: true), wantsEcho: false))
            try await node.send(HeartbeatCodec.heartbeat(NodeHeartbeat(sequence: 2, activeStreams: 0, engineHealthy: true)))
            // Frames come back in order: had beat 1 been echoed, its echo would come first.
            let echo = try #require(await frames.frame())
            #expect(echo.kind == .heartbeatAck)
            #expect(try HeartbeatCodec.decodeAck(echo) == 2)
            // Both beats reached the registry, the unechoed one included.
            #expect(await heard.next()?.1.sequence == 1)
            #expect(await heard.next()?.1.sequence == 2)
        }
    }
}
