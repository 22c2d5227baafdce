import Foundation
import HearthCore
import HearthGateway
import HearthProtocol
import HearthTunnel
import Testing

/// A node in hostile hands claims to be fast to attract work (sensitive work included): the scheduler's view of it
/// comes from the gateway's own clock and stays within what its declared hardware can do, across reconnects.
@Suite("Forged speed claims")
struct ForgedProfileTests {
    static let model = "test-model"

    /// What the gateway saw of one of the liar's answers: the first byte after 2 s, 20 events over 2 more seconds,
    /// while the node claims its engine's first token came after 1 ms.
    static func slowAnswerClaimedFast() -> AnswerTiming {
        AnswerTiming(
            promptTokens: 200, claimedCompletionTokens: 5_000, relayedContentEvents: 21, batch: 1, totalSeconds: 4,
            firstByteSeconds: 2, claimedFirstTokenSeconds: 0.001, linkRTTSeconds: 0.001)
    }

    static func request(promptTokens: Int) -> SchedulingRequest {
        SchedulingRequest(model: model, taskClass: .chat, promptTokens: promptTokens, maxOutputTokens: 64, arrival: 0)
    }

    @Test("a refit comes from the gateway's timings: claimed 1 ms first tokens do not pull traffic, nor survive a reconnect")
    func claimedSpeedDoesNotAttractWork() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "honest", engine: ForgedTelemetryTests.honestEngine())]) { fleet in
            let scheduler = fleet.gateway.registry.scheduler
            var registry = fleet.gateway.registry.events().makeAsyncIterator()
            let claimed = NodeProfile(
                model: Self.model, prefillTokensPerSecond: 19_000, prefillOverheadSeconds: 0, decodeBaseSeconds: 0.001,
                decodePerSequenceSeconds: 0, maxBatch: 4, linkRTTSeconds: 0)
            let liar = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await liar.send(.json(.hello, RawNode.hello(id: "liar", slots: 4, profiles: [claimed])))
            #expect(await registry.next() == .registered(NodeID("liar")))

            // Sixteen answers, each slow by the gateway's clock and fast by the node's word.
            for _ in 0..<FleetScheduler.refitEvery {
                scheduler.finished(NodeID("liar"), promptTokens: 200, model: Self.model, observed: Self.slowAnswerClaimedFast())
            }
            let refitted = try #require(scheduler.profile(of: NodeID("liar"), model: Self.model))
            // 200 tokens took about 2 s as the gateway saw it: about 100 a second, not 200,000.
            #expect(refitted.prefillSeconds(tokens: 200) > 1.5, "\(refitted)")
            #expect(refitted.decodeStepSeconds(batch: 1) >= 0.09, "\(refitted)")
            let honest = try #require(scheduler.profile(of: NodeID("honest"), model: Self.model))
            #expect(refitted.prefillSeconds(tokens: 2_000) > honest.prefillSeconds(tokens: 2_000))
            let standard = RequestSecurity(tenant: "t", dataClass: .standard)
            #expect(scheduler.preview(Self.request(promptTokens: 2_000), security: standard, excluding: [])?.node == NodeID("honest"))

            // Dialling again with the same fast claim does not wipe what its answers showed.
            try await liar.channel.close()
            #expect(await registry.next() == .removed(NodeID("liar"), reason: "tunnel closed"))
            let again = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            try await again.send(.json(.hello, RawNode.hello(id: "liar", slots: 4, profiles: [claimed])))
            #expect(await registry.next() == .registered(NodeID("liar")))
            let afterReconnect = try #require(scheduler.profile(of: NodeID("liar"), model: Self.model))
            #expect(afterReconnect.prefillSeconds(tokens: 200) > 1.5, "\(afterReconnect)")
            #expect(scheduler.preview(Self.request(promptTokens: 2_000), security: standard, excluding: [])?.node == NodeID("honest"))
            try await again.channel.close()
        }
    }

    @Test("without the gateway's own timings, a node's figures can slow its profile down but never speed it up")
    func claimedOnlySamplesNeverSpeedAProfileUp() async throws {
        try await withTestFleet(nodes: []) { fleet in
            let scheduler = fleet.gateway.registry.scheduler
            var registry = fleet.gateway.registry.events().makeAsyncIterator()
            let liar = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            // No profile: the gateway assumes a conservative one (500 prefill tokens a second, 30 ms a step).
            try await liar.send(.json(.hello, RawNode.hello(id: "liar", slots: 4)))
            #expect(await registry.next() == .registered(NodeID("liar")))
            let before = try #require(scheduler.profile(of: NodeID("liar"), model: Self.model))
            var claimedOnly = Self.slowAnswerClaimedFast()
            claimedOnly.firstByteSeconds = nil
            claimedOnly.relayedContentEvents = nil
            for _ in 0..<FleetScheduler.refitEvery {
                scheduler.finished(NodeID("liar"), promptTokens: 200, model: Self.model, observed: claimedOnly)
            }
            let after = try #require(scheduler.profile(of: NodeID("liar"), model: Self.model))
            #expect(after.prefillTokensPerSecond <= before.prefillTokensPerSecond, "\(after)")
            #expect(after.decodeStepSeconds(batch: 1) >= before.decodeStepSeconds(batch: 1), "\(after)")
            try await liar.channel.close()
        }
    }

    @Test("a hello's slots and profile stay within the declared hardware")
    func slotsAndProfileWithinTheDeclaredHardware() async throws {
        try await withTestFleet(nodes: []) { fleet in
            let scheduler = fleet.gateway.registry.scheduler
            var registry = fleet.gateway.registry.events().makeAsyncIterator()
            let liar = try await RawNode.connect(port: fleet.addresses.tunnelPort)
            // A one-core CPU node claiming 4,096 slots and the prefill of a rack of H100s (within the global cap).
            var hello = RawNode.hello(
                id: "liar", slots: 4_096,
                profiles: [
                    NodeProfile(
                        model: Self.model, prefillTokensPerSecond: 900_000, decodeBaseSeconds: 0.000_2, decodePerSequenceSeconds: 0,
                        maxBatch: 4_096)
                ])
            hello.hardware = HardwareSummary(cpuCores: 1, memoryBytes: 1 << 30, gpus: [])
            try await liar.send(.json(.hello, hello))
            #expect(await registry.next() == .registered(NodeID("liar")))
            let bounds = HardwareBounds(gpuNames: [], cpuCores: 1)
            let profile = try #require(scheduler.profile(of: NodeID("liar"), model: Self.model))
            #expect(profile.maxBatch == bounds.maximumSlots)
            #expect(profile.prefillTokensPerSecond == bounds.maximumPrefillTokensPerSecond)
            #expect(profile.decodeStepSeconds(batch: 1) >= bounds.minimumDecodeStepSeconds)
            try await liar.channel.close()
        }
    }
}
