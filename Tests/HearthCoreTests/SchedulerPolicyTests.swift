import HearthCore
import Testing

@Suite struct SchedulerPolicyTests {
    func names(_ decisions: [SchedulingDecision]) -> [String] {
        decisions.map { $0.placement?.node.rawValue ?? "-" }
    }

    @Test func policyLookupByName() {
        #expect(SchedulingPolicyKind(rawValue: "slo-aware") == .sloAware)
        #expect(SchedulingPolicyKind(rawValue: "round-robin") == .roundRobin)
        #expect(SchedulingPolicyKind(rawValue: "prefix-affinity") == .prefixAffinity)
        #expect(SchedulingPolicyKind(rawValue: "least-loaded") == .leastLoaded)
        #expect(SchedulingPolicyKind(rawValue: "random") == nil)
        #expect(Scheduler().kind == .sloAware)
    }

    @Test func roundRobinCyclesAndSkipsIneligible() {
        let fleet = FleetState(nodes: [
            Fixtures.node("a"), Fixtures.node("b", load: NodeLoad(isAdmitting: false)), Fixtures.node("c"),
        ])
        var scheduler = Scheduler(policy: .roundRobin)
        let decisions = (0..<4).map { _ in scheduler.decide(Fixtures.request(), fleet: fleet, now: 0) }
        #expect(names(decisions) == ["a", "c", "a", "c"])
    }

    @Test func leastLoadedUsesShareOfSlots() {
        let fleet = FleetState(nodes: [
            Fixtures.node("a", profile: Fixtures.profile(maxBatch: 8), load: NodeLoad(runningSequences: 4)),
            Fixtures.node("b", profile: Fixtures.profile(maxBatch: 32), load: NodeLoad(runningSequences: 8)),
            Fixtures.node("c", profile: Fixtures.profile(maxBatch: 8), load: NodeLoad(runningSequences: 6)),
        ])
        var scheduler = Scheduler(policy: .leastLoaded)
        #expect(scheduler.decide(Fixtures.request(), fleet: fleet, now: 0).placement?.node == NodeID("b"))
    }

    @Test func prefixAffinityIsStickyWithBoundedLoad() {
        var fleet = FleetState(nodes: (0..<5).map { Fixtures.node("n\($0)") })
        var scheduler = Scheduler(policy: .prefixAffinity)
        let request = Fixtures.request(hashes: [42, 43])
        let home = try! #require(scheduler.decide(request, fleet: fleet, now: 0).placement)
        #expect(scheduler.decide(request, fleet: fleet, now: 0).placement?.node == home.node)
        #expect(home.reason == .prefixAffinity(probes: 0))
        // Overload the home node: the request moves to the next node on the ring.
        fleet.setLoad(NodeLoad(runningSequences: 8, waitingSequences: 4), at: home.nodeIndex)
        let moved = try! #require(scheduler.decide(request, fleet: fleet, now: 0).placement)
        #expect(moved.node != home.node)
        #expect(moved.reason == .prefixAffinity(probes: 1))
    }

    @Test func sloAwarePrefersTheNodeThatMeetsTheTarget() {
        // A slow node with no load and a fast one with some: code needs TPOT ≤ 50 ms.
        let fleet = FleetState(nodes: [
            Fixtures.node("slow", profile: Fixtures.profile(rate: 200, base: 0.12)),
            Fixtures.node("fast", load: NodeLoad(runningSequences: 5)),
        ])
        var scheduler = Scheduler()
        let decision = scheduler.decide(Fixtures.request(.code, prompt: 500, output: 1000), fleet: fleet, now: 0)
        let placement = try! #require(decision.placement)
        #expect(placement.node == NodeID("fast"))
        #expect(placement.prediction.tpotSeconds <= 0.05)
        if case .bestMargin(let margin) = placement.reason { #expect(margin > 0) } else { Issue.record("reason \(placement.reason)") }
    }

    @Test func sloAwareSpreadsByMargin() {
        let fleet = FleetState(nodes: [
            Fixtures.node("busy", load: NodeLoad(runningSequences: 6, prefillBacklogSeconds: 0.3)),
            Fixtures.node("idle"),
        ])
        var scheduler = Scheduler()
        #expect(scheduler.decide(Fixtures.request(), fleet: fleet, now: 0).placement?.node == NodeID("idle"))
    }

    @Test func sloAwareKeepsSessionOnCacheHolderWhileTargetIsMet() {
        var fleet = FleetState(nodes: [Fixtures.node("a"), Fixtures.node("b")])
        fleet.recordPrefix([7, 8, 9], at: 0)
        fleet.setLoad(NodeLoad(runningSequences: 3), at: 0)
        var scheduler = Scheduler()
        let request = Fixtures.request(prompt: 2000, hashes: [7, 8, 9, 10])
        let placement = try! #require(scheduler.decide(request, fleet: fleet, now: 0).placement)
        #expect(placement.node == NodeID("a"))
        guard case .sessionAffinity(1536, let margin) = placement.reason else {
            Issue.record("reason \(placement.reason)")
            return
        }
        #expect(margin >= 0)
        // When the cache holder can no longer meet the target, the request spreads.
        fleet.setLoad(NodeLoad(runningSequences: 8, waitingSequences: 10, prefillBacklogSeconds: 5, nextSlotFreeSeconds: 5), at: 0)
        #expect(scheduler.decide(request, fleet: fleet, now: 0).placement?.node == NodeID("b"))
    }

    @Test func customFiltersArePluggable() {
        let fleet = FleetState(nodes: [
            NodeSnapshot(
                id: NodeID("a"), models: [ServedModel(id: Fixtures.model, contextTokens: 32_768)], profiles: [Fixtures.profile()],
                labels: ["tamper": "suspect"]),
            NodeSnapshot(
                id: NodeID("b"), models: [ServedModel(id: Fixtures.model, contextTokens: 32_768)], profiles: [Fixtures.profile()],
                load: NodeLoad(runningSequences: 4), labels: ["tamper": "clean"]),
        ])
        var scheduler = Scheduler(configuration: SchedulerConfiguration(filters: [LabelFilter(key: "tamper", values: ["clean"])]))
        #expect(scheduler.decide(Fixtures.request(), fleet: fleet, now: 0).placement?.node == NodeID("b"))
    }

    @Test func largeFleetsAreSampledButStillPlaced() {
        let fleet = FleetState(nodes: (0..<2000).map { Fixtures.node("n\($0)") })
        var scheduler = Scheduler(configuration: SchedulerConfiguration(maxCandidates: 64))
        var seen = Set<NodeID>()
        for _ in 0..<100 {
            if let placement = scheduler.decide(Fixtures.request(), fleet: fleet, now: 0).placement { seen.insert(placement.node) }
        }
        #expect(seen.count > 1)
    }
}
