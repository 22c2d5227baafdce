import Foundation
import HearthCore
import HearthGateway
import HearthProtocol
import HearthTunnel
import NIOCore
import Testing

/// A node in hostile hands lies in its telemetry. The gateway must not act on impossible claims, must not store
/// forged energy, and must not let a liar attract more work than its hello's slots, while honest nodes keep serving.
@Suite("Forged telemetry from a malicious node")
struct ForgedTelemetryTests {
    static let canary = "CANARY-FORGED-STREAM-5c1d"

    /// Claims beyond physics: a trillion prefill tokens a second and nanosecond decode steps.
    static let forgedProfile = NodeProfile(
        model: "test-model", prefillTokensPerSecond: 1e12, prefillOverheadSeconds: -1, decodeBaseSeconds: 1e-9,
        decodePerSequenceSeconds: -0.5, maxBatch: 4096, linkRTTSeconds: -1, powerCapFactor: 50, typicalOutputTokens: 1)

    static func power(
        mode: String = "normal", draw: Double = 500, full: Double = 2_000, floor: Double = 300, capFraction: Double = 1,
        homeLoad: Double? = 1_000
    ) -> NodePowerReport {
        NodePowerReport(
            mode: mode, budgetWatts: 2_000, drawWatts: draw, capWatts: 1_500, capFraction: capFraction, homeLoadWatts: homeLoad,
            homeBudgetWatts: 5_000, fullWatts: full, floorWatts: floor)
    }

    static func honestEngine() -> TestEngine {
        TestEngine { _, _, emit in for chunk in TestEngine.json(text: "honest answer") { try await emit(chunk) } }
    }

    @Test("impossible heartbeats are refused with an error frame and change nothing; forged energy is not stored")
    func forgedHeartbeats() async throws {
        try await withTestFleet(
            nodes: [TestNodeSpec(id: "honest", engine: Self.honestEngine())],
            configure: { $0.power.sites = [NodeID("liar"): .init(homeID: "home-liar")] }
        ) { fleet in
            let scheduler = fleet.gateway.registry.scheduler
            let liar = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            let frames = FrameReader(liar)
            try await liar.send(.json(.hello, RawNode.hello(id: "liar", model: "liar-model", profiles: [Self.forgedProfile])))
            #expect(await frames.frame()?.kind == .welcome)
            // The impossible profile was dropped: the scheduler plans with its conservative guess.
            let profile = try #require(scheduler.profile(of: NodeID("liar"), model: "liar-model"))
            #expect(profile.prefillTokensPerSecond == 500 && profile.decodeBaseSeconds == 0.03 && profile.maxBatch == 2)

            var reports = fleet.gateway.registry.powerReports().makeAsyncIterator()
            var sequence: UInt64 = 10
            func beat(_ build: (inout NodeHeartbeat) -> Void) -> TunnelFrame {
                sequence += 1
                var heartbeat = NodeHeartbeat(sequence: sequence, activeStreams: 0, engineHealthy: true, power: Self.power())
                build(&heartbeat)
                return HeartbeatCodec.heartbeat(heartbeat)
            }
            // One honest heartbeat first: it is applied (a power report comes out).
            try await liar.send(beat { _ in })
            #expect(await reports.next()?.0 == NodeID("liar"))

            let now = Int64(Date().timeIntervalSince1970)
            let forged: [(String, TunnelFrame)] = [
                ("negative queue", beat { $0.activeStreams = -5 }),
                ("absurd queue", beat { $0.activeStreams = .max }),
                ("negative streams for other gateways", beat { $0.otherGatewayStreams = -1 }),
                ("absurd streams for other gateways", beat { $0.otherGatewayStreams = 1 << 40 }),
                ("negative watts", beat { $0.power = Self.power(draw: -100) }),
                ("a 1 TW node", beat { $0.power = Self.power(full: 1e12) }),
                ("a GPU faster than uncapped", beat { $0.power = Self.power(capFraction: 1e9) }),
                ("floor above full", beat { $0.power = Self.power(full: 500, floor: 900) }),
                ("negative home load", beat { $0.power = Self.power(homeLoad: -3_000) }),
                (
                    "a battery over full",
                    beat {
                        $0.power?.batteryStateOfCharge = 1.5; $0.power?.batteryWatts = 0
                    }
                ),
                (
                    "a 1 GW battery",
                    beat {
                        $0.power?.batteryStateOfCharge = 0.5; $0.power?.batteryWatts = 1e9
                    }
                ),
                ("importing a load the node does not have", beat { $0.power?.gridImportWatts = 90_000 }),
                (
                    "a negative round trip",
                    beat { $0.link = LinkReport(rttMilliseconds: -5, jitterMilliseconds: 1, loss: 0, degraded: false) }
                ),
                ("loss above one", beat { $0.link = LinkReport(rttMilliseconds: 5, jitterMilliseconds: 1, loss: 7, degraded: false) }),
                (
                    "negative bandwidth",
                    beat {
                        $0.link = LinkReport(
                            rttMilliseconds: 5, jitterMilliseconds: 1, loss: 0, bandwidthBytesPerSecond: -1, degraded: false)
                    }
                ),
                (
                    "a flood of intervals",
                    beat { $0.energy = Array(repeating: EnergyInterval(start: now - 120, end: now - 60, wattHours: 1), count: 5_000) }
                ),
                (
                    "a replayed sequence, saying the engine died",
                    HeartbeatCodec.heartbeat(NodeHeartbeat(sequence: 11, activeStreams: 0, engineHealthy: false))
                ),
            ]
            for (label, frame) in forged {
                try await liar.send(frame)
                let answer = await frames.answer()
                #expect(answer?.kind == .error, "\(label)")
                let message = try answer.map { try $0.decodeJSON(TunnelErrorMessage.self).message } ?? ""
                #expect(message.hasPrefix("invalid heartbeat"), "\(label): \(message)")
            }
            // None of it took effect: still admitting, cap factor untouched, still registered.
            #expect(scheduler.isAdmitting(NodeID("liar")))
            #expect(scheduler.profile(of: NodeID("liar"), model: "liar-model")?.powerCapFactor == 1)
            #expect(fleet.gateway.connectedNodes.contains(NodeID("liar")))

            // Energy: one plausible interval among forged ones; only it is stored.
            let valid = EnergyInterval(start: now - 120, end: now - 60, wattHours: 10)
            try await liar.send(
                beat {
                    $0.energy = [
                        valid,
                        EnergyInterval(start: now - 60, end: now - 60, wattHours: 1),  // end == start
                        EnergyInterval(start: now - 30, end: now - 90, wattHours: 1),  // end < start
                        EnergyInterval(start: now + 3_600, end: now + 3_660, wattHours: 1),  // from the future
                        EnergyInterval(start: now - 60, end: now, wattHours: 1e6),  // 60 MW for a minute
                        EnergyInterval(start: now - 60, end: now, wattHours: -5),
                        EnergyInterval(start: .min, end: .max, wattHours: 1),  // would overflow end - start
                        EnergyInterval(start: now - 40 * 86_400, end: now - 40 * 86_400 + 60, wattHours: 1),  // weeks old
                    ]
                })
            let warning = try #require(await frames.answer())
            #expect(try warning.decodeJSON(TunnelErrorMessage.self).message.contains("dropped 7"))
            #expect(await reports.next()?.0 == NodeID("liar"))
            // Energy reaches the store in the ledger's next batch: write it now.
            try await fleet.gateway.power.flushEnergy()
            let stored = try await fleet.gateway.store.energy(home: "home-liar", from: .distantPast, to: .distantFuture)
            #expect(stored.map(\.start) == [Date(timeIntervalSince1970: Double(valid.start))])
            #expect(stored.map(\.wattHours) == [10])

            // The honest node serves throughout.
            let answer = try await fleet.post(json: chatBody(model: "test-model"))
            #expect(answer.status == 200 && answer.body.contains("honest answer"))
        }
    }

    @Test("frames on another request's stream ids never reach its client; an oversized frame closes only the liar")
    func borrowedStreamsAndOversizedFrames() async throws {
        let engine = TestEngine { _, gate, emit in
            try await gate.wait()
            for chunk in TestEngine.json(text: "honest answer") { try await emit(chunk) }
        }
        try await withTestFleet(nodes: [TestNodeSpec(id: "honest", engine: engine)]) { fleet in
            var registry = fleet.gateway.registry.events().makeAsyncIterator()
            async let held = fleet.post(json: chatBody(model: "test-model"))
            await engine.gate.waitUntilWaiting()

            let liar = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            let frames = FrameReader(liar)
            try await liar.send(.json(.hello, RawNode.hello(id: "liar", model: "liar-model")))
            #expect(await frames.frame()?.kind == .welcome)
            #expect(await registry.next() == .registered(NodeID("liar")))
            // Stream ids are per tunnel: the honest node's stream 1 is not the liar's to answer.
            for stream in UInt32(1)...4 {
                try await liar.send(StreamMessageCodec.head(StreamHead(status: 200, contentType: "application/json"), stream: stream))
                try await liar.send(TunnelFrame(kind: .data, stream: stream, payload: ByteBuffer(string: #"{"leak":"\#(Self.canary)"}"#)))
                try await liar.send(
                    StreamMessageCodec.end(StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: nil), stream: stream))
                for _ in 0..<2 {
                    let answer = await frames.answer()
                    #expect(answer?.kind == .cancel && answer?.stream == stream)
                }
            }
            engine.gate.open()
            let response = try await held
            #expect(response.status == 200)
            #expect(response.body.contains("honest answer") && !response.body.contains(Self.canary))

            // A frame far over the limit: refused by its length prefix alone, and the liar is cut off.
            var oversized = ByteBuffer()
            oversized.writeInteger(UInt32(64 << 20))
            oversized.writeInteger(TunnelFrameKind.data.rawValue)
            oversized.writeInteger(UInt32(1))
            try await liar.sendRaw(oversized)
            let refusal = try #require(await frames.answer())
            #expect(try refusal.decodeJSON(TunnelErrorMessage.self).code == .frameTooLarge)
            guard case .closed = await frames.next() else {
                Issue.record("the gateway kept the liar's tunnel open")
                return
            }
            #expect(await registry.next() == .removed(NodeID("liar"), reason: "tunnel closed"))
            #expect(try await fleet.post(json: chatBody(model: "test-model")).status == 200)
        }
    }

    @Test("a liar claiming impossible speed and forging its load gets no more concurrent work than its slots")
    func placementsNeverExceedTheLiarsSlots() async throws {
        // The honest node holds every request until the end, so the fleet fills up and the scheduler has to choose.
        let engine = TestEngine { _, gate, emit in
            try await gate.wait()
            for chunk in TestEngine.json(text: "honest answer") { try await emit(chunk) }
        }
        try await withTestFleet(nodes: [TestNodeSpec(id: "honest", engine: engine)]) { fleet in
            let liar = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await liar.send(.json(.hello, RawNode.hello(id: "liar", slots: 2, profiles: [Self.forgedProfile])))
            var frames = liar.frames.makeAsyncIterator()
            #expect(await frames.next()?.kind == .welcome)
            // Forged load and power: streams below zero, a GPU fifty times faster than uncapped.
            try await liar.send(HeartbeatCodec.heartbeat(NodeHeartbeat(sequence: 1, activeStreams: -1_000, engineHealthy: true)))
            try await liar.send(
                HeartbeatCodec.heartbeat(
                    NodeHeartbeat(sequence: 2, activeStreams: 0, engineHealthy: true, power: Self.power(capFraction: 50))))
            #expect(await frames.next()?.kind == .error)
            #expect(await frames.next()?.kind == .error)

            enum Placed: Sendable {
                case honest
                case liar(UInt32)
            }
            let (placements, sink) = AsyncStream<Placed>.makeStream()
            let requests = 10
            let client = Task {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<requests {
                        group.addTask { try await fleet.post(json: chatBody(model: "test-model")).status }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
            }
            // The liar holds every request it gets, so each placement on it stays in flight.
            let liarReader = Task {
                var frames = liar.frames.makeAsyncIterator()
                while let frame = await frames.next() {
                    if frame.kind == .open { sink.yield(.liar(frame.stream)) }
                }
            }
            let honestReader = Task {
                for await event in engine.events {
                    if case .started = event { sink.yield(.honest) }
                }
            }
            var held: [UInt32] = []
            var honest = 0
            for await placed in placements {
                switch placed {
                case .honest: honest += 1
                case .liar(let stream): held.append(stream)
                }
                if honest + held.count == requests { break }
            }
            #expect(held.count <= 2, "the liar holds \(held.count) requests with 2 slots")
            engine.gate.open()
            for stream in held {
                try await liar.send(StreamMessageCodec.head(StreamHead(status: 200, contentType: "application/json"), stream: stream))
                for chunk in TestEngine.json(text: "late") { try await liar.send(TunnelFrame(kind: .data, stream: stream, payload: chunk)) }
                try await liar.send(
                    StreamMessageCodec.end(StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: nil), stream: stream))
            }
            let statuses = try await client.value
            #expect(statuses.count == requests && statuses.allSatisfy { $0 == 200 }, "\(statuses)")
            liarReader.cancel()
            honestReader.cancel()
            try await liar.channel.close()
        }
    }
}

extension FrameReader {
    /// The gateway's answer to what the node just sent: its power loop may send the node its limits at any time, and
    /// those are no answer.
    func answer() async -> TunnelFrame? {
        var frame = await frame()
        while frame?.kind == .powerLimit { frame = await self.frame() }
        return frame
    }
}
