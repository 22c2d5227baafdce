import Foundation
import HearthCore
import HearthGateway
import HearthProtocol
import HearthTunnel
import NIOCore
import Testing

/// A node credits its home for energy: a liar would slice, resend and inflate its intervals. The ledger credits each
/// second of a node at most once and never beyond what its declared hardware draws; heartbeats are paced and their
/// energy reaches the store in batches, never one commit (fsync) per heartbeat.
@Suite("Forged energy intervals and heartbeat floods")
struct ForgedEnergyTests {
    /// A node that declares one L4: 72 W of GPU and 400 W of host, 472 W at most.
    static func l4Hello(id: String) -> NodeHello {
        var hello = RawNode.hello(id: id)
        hello.hardware = HardwareSummary(cpuCores: 8, memoryBytes: 1 << 34, gpus: ["NVIDIA L4"])
        return hello
    }

    static func power(full: Double) -> NodePowerReport {
        NodePowerReport(
            mode: "normal", budgetWatts: full, drawWatts: full / 2, capWatts: 72, capFraction: 1, homeLoadWatts: 1_000,
            homeBudgetWatts: 5_000, fullWatts: full, floorWatts: 100)
    }

    /// The next frame that is not a power limit (the gateway sends those to every node of a configured site).
    static func reply(_ frames: FrameReader) async -> TunnelFrame? {
        while let frame = await frames.frame() {
            if frame.kind != .powerLimit { return frame }
        }
        return nil
    }

    /// Sends a data frame on a stream nobody opened and waits for its cancel: every frame sent before it is handled.
    static func drain(_ node: RawNode, _ frames: FrameReader, stream: UInt32 = 0xFFFF_FF00) async throws -> [TunnelFrame] {
        try await node.send(TunnelFrame(kind: .data, stream: stream, payload: ByteBuffer(string: "x")))
        var seen: [TunnelFrame] = []
        while let frame = await frames.frame() {
            if frame.kind == .cancel && frame.stream == stream { return seen }
            if frame.kind != .powerLimit { seen.append(frame) }
        }
        Issue.record("no cancel for the probe stream")
        return seen
    }

    @Test("overlapping, out-of-order and over-draw intervals are refused, not summed, on one tunnel and across tunnels")
    func energyIsCreditedOncePerSecondWithinTheDeclaredDraw() async throws {
        try await withTestFleet(nodes: [], configure: { $0.power.sites = [NodeID("liar"): .init(homeID: "home-liar")] }) { fleet in
            let liar = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            let frames = FrameReader(liar)
            try await liar.send(.json(.hello, Self.l4Hello(id: "liar")))
            #expect(await frames.frame()?.kind == .welcome)

            // A full draw beyond one L4 and its host is refused whole.
            try await liar.send(
                HeartbeatCodec.heartbeat(NodeHeartbeat(sequence: 1, activeStreams: 0, engineHealthy: true, power: Self.power(full: 2_000))))
            let refused = try #require(await Self.reply(frames))
            #expect(try refused.decodeJSON(TunnelErrorMessage.self).message.contains("declared hardware"))

            let now = Int64(Date().timeIntervalSince1970)
            let a = EnergyInterval(start: now - 600, end: now - 540, wattHours: 5)  // 300 W
            let b = EnergyInterval(start: now - 540, end: now - 480, wattHours: 6)  // 360 W
            try await liar.send(
                HeartbeatCodec.heartbeat(
                    NodeHeartbeat(
                        sequence: 2, activeStreams: 0, engineHealthy: true, power: Self.power(full: 400),
                        energy: [
                            a,
                            EnergyInterval(start: a.start, end: a.start + 30, wattHours: 2.5),  // a again, sliced
                            EnergyInterval(start: a.start + 30, end: a.end, wattHours: 2.5),
                            EnergyInterval(start: a.start + 1, end: a.end + 1, wattHours: 5),  // a again, shifted
                            EnergyInterval(start: a.start - 60, end: a.start, wattHours: 5),  // out of order
                            b,
                            EnergyInterval(start: b.end, end: b.end + 60, wattHours: 7),  // 420 W: over the declared 400 W
                        ])))
            let warning = try #require(await Self.reply(frames))
            let message = try warning.decodeJSON(TunnelErrorMessage.self).message
            #expect(
                message.contains("dropped 5") && message.contains("4 out-of-order") && message.contains("1 more-than-the-hardware-draws"))
            // The declared full draw cannot grow within the tunnel.
            try await liar.send(
                HeartbeatCodec.heartbeat(NodeHeartbeat(sequence: 3, activeStreams: 0, engineHealthy: true, power: Self.power(full: 450))))
            #expect(try #require(await Self.reply(frames)).decodeJSON(TunnelErrorMessage.self).message.contains("rose"))

            try await fleet.gateway.power.flushEnergy()
            var stored = try await fleet.gateway.store.energy(home: "home-liar", from: .distantPast, to: .distantFuture)
            #expect(stored.map(\.wattHours) == [5, 6])

            // A new tunnel (the same node dialling again): a resend of `a` is fine and stored once; a slice across `b`
            // is refused by the ledger; a fresh minute after both is credited.
            try await liar.channel.close()
            let again = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            let againFrames = FrameReader(again)
            try await again.send(.json(.hello, Self.l4Hello(id: "liar")))
            #expect(await Self.reply(againFrames)?.kind == .welcome)
            let fresh = EnergyInterval(start: b.end + 60, end: b.end + 120, wattHours: 4)
            try await again.send(
                HeartbeatCodec.heartbeat(
                    NodeHeartbeat(
                        sequence: 1, activeStreams: 0, engineHealthy: true, power: Self.power(full: 400),
                        energy: [a, EnergyInterval(start: b.start + 30, end: b.end + 30, wattHours: 6), fresh])))
            // Nothing refused on this tunnel: the ledger, not the tunnel, knows what is already stored.
            #expect(try await Self.drain(again, againFrames).isEmpty)
            try await fleet.gateway.power.flushEnergy()
            stored = try await fleet.gateway.store.energy(home: "home-liar", from: .distantPast, to: .distantFuture)
            #expect(stored.map(\.start.timeIntervalSince1970) == [a, b, fresh].map { Double($0.start) })
            #expect(stored.map(\.wattHours) == [5, 6, 4])
            // Never more than the declared 400 W over the time the rows cover.
            let covered = stored.reduce(0.0) { $0 + $1.end.timeIntervalSince($1.start) }
            #expect(stored.reduce(0.0) { $0 + $1.wattHours } <= 400 * covered / 3_600)
        }
    }

    @Test("a heartbeat flood is paced (most frames are not even read) and energy is committed in batches")
    func heartbeatsArePacedAndBatched() async throws {
        try await withTestFleet(nodes: [], configure: { $0.power.sites = [NodeID("flood"): .init(homeID: "home-flood")] }) { fleet in
            let flood = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            let frames = FrameReader(flood)
            try await flood.send(.json(.hello, Self.l4Hello(id: "flood")))
            #expect(await frames.frame()?.kind == .welcome)
            let writesBefore = fleet.gateway.power.energyStoreWrites
            let now = Int64(Date().timeIntervalSince1970)
            // 20 heartbeats, each with one fresh second of energy: all within the burst, so all are read.
            for i in 0..<20 {
                let second = EnergyInterval(start: now - 100 + Int64(i), end: now - 99 + Int64(i), wattHours: 0.05)
                try await flood.send(
                    HeartbeatCodec.heartbeat(
                        NodeHeartbeat(
                            sequence: UInt64(i + 1), activeStreams: 0, engineHealthy: true, power: Self.power(full: 400), energy: [second]))
                )
            }
            #expect(try await Self.drain(flood, frames).isEmpty)
            let session = try #require(fleet.gateway.registry.session(NodeID("flood")))
            #expect(session.heartbeatsUnread == 0)
            try await fleet.gateway.power.flushEnergy()
            let stored = try await fleet.gateway.store.energy(home: "home-flood", from: .distantPast, to: .distantFuture)
            #expect(stored.count == 20)
            // One commit per flush, not one per heartbeat: this call's, and at most two of the once-a-second loop.
            #expect(fleet.gateway.power.energyStoreWrites - writesBefore <= 3)

            // Then a flood: 2,000 heartbeats at once. The gateway reads what the pace allows and drops the rest unread.
            for i in 0..<2_000 {
                flood.channel.write(
                    HeartbeatCodec.heartbeat(NodeHeartbeat(sequence: UInt64(100 + i), activeStreams: 0, engineHealthy: true)),
                    promise: nil)
            }
            flood.channel.flush()
            _ = try await Self.drain(flood, frames, stream: 0xFFFF_FF01)
            let read = 2_000 - session.heartbeatsUnread
            #expect(read < 100, "the gateway read \(read) of 2,000 heartbeats")
            #expect(fleet.gateway.connectedNodes.contains(NodeID("flood")))
        }
    }

    @Test("a node that keeps forging energy intervals loses its standing: it gets no new work")
    func forgedEnergyCostsTheNodeItsStanding() async throws {
        try await withTestFleet(nodes: []) { fleet in
            let scheduler = fleet.gateway.registry.scheduler
            let liar = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            let frames = FrameReader(liar)
            try await liar.send(.json(.hello, Self.l4Hello(id: "liar")))
            #expect(await frames.frame()?.kind == .welcome)
            #expect(scheduler.isAdmitting(NodeID("liar")))
            let now = Int64(Date().timeIntervalSince1970)
            // Each heartbeat reports a minute and then the same minute again, shifted by a second.
            for i in Int64(0)..<3 {
                let minute = EnergyInterval(start: now - 900 + 120 * i, end: now - 840 + 120 * i, wattHours: 1)
                let shifted = EnergyInterval(start: minute.start + 1, end: minute.end + 1, wattHours: 1)
                try await liar.send(
                    HeartbeatCodec.heartbeat(
                        NodeHeartbeat(sequence: UInt64(i + 1), activeStreams: 0, engineHealthy: true, energy: [minute, shifted])))
            }
            _ = try await Self.drain(liar, frames)
            // Three provable lies within the window: quarantined for misbehaviour.
            #expect(!scheduler.isAdmitting(NodeID("liar")))
        }
    }
}
