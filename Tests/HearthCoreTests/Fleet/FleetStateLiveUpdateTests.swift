import HearthCore
import Testing

/// Live updates of one node (a refit, a link report, labels) change that node in place and leave the fleet as a
/// rebuild from the same snapshots would: they run at every node's pace, so none may rebuild the model index.
@Suite struct FleetStateLiveUpdateTests {
    static func same(_ a: FleetState, _ b: FleetState) -> Bool {
        guard let pa = a.pool(for: Fixtures.model), let pb = b.pool(for: Fixtures.model) else { return false }
        return a.ids == b.ids && pa.nodeIndices == pb.nodeIndices && pa.profiles == pb.profiles && pa.totalSlots == pb.totalSlots
            && (0..<a.count).allSatisfy { a.profiles(at: $0) == b.profiles(at: $0) && a.labels(at: $0) == b.labels(at: $0) }
    }

    @Test func inPlaceUpdatesMatchARebuild() {
        var fleet = FleetState(nodes: [Fixtures.node("a"), Fixtures.node("b"), Fixtures.node("c")])
        var refit = Fixtures.profile(rate: 2_000, maxBatch: 12)
        refit.linkRTTSeconds = 0.02
        fleet.setProfile(refit, at: 1)
        fleet.setLinkRTT(0.045, at: 2)
        fleet.setLabels(["trust-state": "trusted"], at: 0)

        var expected = fleet.snapshots
        expected[1].profiles = [refit]
        expected[2].profiles[0].linkRTTSeconds = 0.045
        expected[0].labels = ["trust-state": "trusted"]
        #expect(Self.same(fleet, FleetState(nodes: expected)))
        // The pool's slot total follows the refit's batch size: 8 + 12 + 8.
        #expect(fleet.pool(for: Fixtures.model)?.totalSlots == 28)
        #expect(fleet.pool(for: Fixtures.model)?.profiles[1].prefillTokensPerSecond == 2_000)
    }

    @Test func aProfileForAModelTheNodeHadNoProfileForJoinsItsPool() {
        let served = [ServedModel(id: Fixtures.model, contextTokens: 4096), ServedModel(id: "other", contextTokens: 4096)]
        var fleet = FleetState(nodes: [NodeSnapshot(id: NodeID("a"), models: served, profiles: [Fixtures.profile()], load: NodeLoad())])
        #expect(fleet.pool(for: "other") == nil)
        var other = Fixtures.profile()
        other.model = "other"
        fleet.setProfile(other, at: 0)
        #expect(fleet.pool(for: "other")?.count == 1)
        #expect(fleet.profiles(at: 0).map(\.model) == [Fixtures.model, "other"])
        // A refit of a profile whose model the node does not serve replaces it; the node never holds two.
        var unserved = Fixtures.profile()
        unserved.model = "gone"
        fleet.setProfile(unserved, at: 0)
        unserved.prefillTokensPerSecond = 1
        fleet.setProfile(unserved, at: 0)
        #expect(fleet.profiles(at: 0).filter { $0.model == "gone" } == [unserved])
    }
}
