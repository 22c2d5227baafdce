import HearthCore
import Testing

/// The SLO-aware policy explores an idle node whose profile no answer has confirmed: a node calibrated while its
/// machine was busy, and so outscored by every other node, still meets the answers that correct its profile.
@Suite struct ExplorationTests {
    /// Node a meets the chat targets; node b's profile says 1000 prompt tokens take about 1.4 s (over the 1.1 s
    /// target), which would be 0.5 s were the profile 3× too slow.
    func fleet(bUnconfirmed: Bool, bLoad: NodeLoad = NodeLoad(), bRate: Double = 700) -> FleetState {
        var b = Fixtures.node("b", profile: Fixtures.profile(rate: bRate), load: bLoad)
        b.profileUnconfirmed = bUnconfirmed
        return FleetState(nodes: [Fixtures.node("a"), b])
    }

    func placement(_ request: SchedulingRequest, in fleet: FleetState) -> Placement? {
        var scheduler = Scheduler()
        return scheduler.decide(request, fleet: fleet, now: 0).placement
    }

    /// A best-effort request (the gateway's default policy), `class` as given.
    func request(_ taskClass: TaskClass = .chat) -> SchedulingRequest {
        var request = Fixtures.request(taskClass)
        request.sloPolicy = .bestEffort
        return request
    }

    @Test func anIdleUnconfirmedNodeIsExplored() throws {
        let explored = try #require(placement(request(), in: fleet(bUnconfirmed: true)))
        #expect(explored.node == NodeID("b"))
        guard case .exploring(let hoped) = explored.reason else {
            Issue.record("expected exploring, got \(explored.reason)")
            return
        }
        #expect(hoped > 0)
        // The prediction stays the profile's own, not the hoped one.
        #expect(explored.prediction.ttftSeconds > 1.1)
    }

    @Test func aConfirmedSlowerNodeIsNotExplored() throws {
        let placed = try #require(placement(request(), in: fleet(bUnconfirmed: false)))
        #expect(placed.node == NodeID("a"))
        guard case .bestMargin = placed.reason else {
            Issue.record("expected best margin, got \(placed.reason)")
            return
        }
    }

    @Test func onlyIdleNodesAreExploredAndOnlyForInteractiveRequests() throws {
        let busy = fleet(bUnconfirmed: true, bLoad: NodeLoad(runningSequences: 1))
        #expect(try #require(placement(request(), in: busy)).node == NodeID("a"))
        #expect(try #require(placement(request(.batch), in: fleet(bUnconfirmed: true))).node == NodeID("a"))
    }

    @Test func strictRequestsAreNeverExplored() throws {
        // Strict: its targets or a refusal. Node a meets them, so it gets the request.
        #expect(try #require(placement(Fixtures.request(), in: fleet(bUnconfirmed: true))).node == NodeID("a"))
    }

    @Test func aNodeTooSlowEvenAtThreeTimesItsProfileIsNotExplored() throws {
        // 100 tokens/s: 10 s for the prompt, 3.3 s even if the profile were 3× too slow.
        let hopeless = fleet(bUnconfirmed: true, bRate: 100)
        #expect(try #require(placement(request(), in: hopeless)).node == NodeID("a"))
    }

    @Test func theFlagSurvivesOtherNodesLeaving() throws {
        var state = fleet(bUnconfirmed: false)
        state.upsert(Fixtures.node("c"))
        state.setProfileUnconfirmed(true, at: try #require(state.index(of: NodeID("b"))))
        state.remove(NodeID("a"))
        #expect(state.isProfileUnconfirmed(at: try #require(state.index(of: NodeID("b")))))
        #expect(!state.isProfileUnconfirmed(at: try #require(state.index(of: NodeID("c")))))
    }
}
