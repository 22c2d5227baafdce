import HearthCore
import Testing

@Suite struct GatewayRosterTests {
    @Test func tunnelsTakeDifferentReplicasAndNeverOneTwice() {
        var roster = GatewayRoster(addresses: ["a", "b", "c"])
        let first = roster.pick(now: 0)
        let second = roster.pick(now: 0)
        #expect(first != nil && second != nil && first != second)
        #expect(roster.freeCount == 1)
        let third = roster.pick(now: 0)
        #expect(Set([first, second, third]) == Set(["a", "b", "c"]))
        #expect(roster.pick(now: 0) == nil, "a fourth tunnel would dial a replica twice")
    }

    @Test func moreTunnelsThanReplicasLeaveTheRestWaiting() {
        var roster = GatewayRoster(addresses: ["only"])
        #expect(roster.pick(now: 0) == "only")
        #expect(roster.pick(now: 0) == nil)
        roster.ended("only", registered: true, now: 1)
        #expect(roster.pick(now: 1) == "only", "with no other replica, the one that ended is dialled again")
    }

    @Test func aReplicaThatDiedIsReplacedByAFreeOne() {
        var roster = GatewayRoster(addresses: ["a", "b", "c"])
        #expect(roster.pick(now: 0) == "a")
        #expect(roster.pick(now: 0) == "b")
        // a dies: its tunnel's next dial goes to c, the free replica, not back to a.
        roster.ended("a", registered: true, now: 10)
        #expect(roster.pick(now: 10) == "c")
        // c fails before registering: both rest now, and a, whose tunnel had registered, counts no failure.
        roster.ended("c", registered: false, now: 11)
        #expect(roster.pick(now: 11) == "a")
    }

    @Test func failuresPushAReplicaBackUntilItWorksAgain() {
        var roster = GatewayRoster(addresses: ["a", "b"], setbackSeconds: 5)
        #expect(roster.pick(now: 0) == "a")
        roster.ended("a", registered: false, now: 0)
        roster.ended("a", registered: false, now: 0)  // a second report for an address not in use counts nothing
        #expect(roster.pick(now: 1) == "b")
        roster.ended("b", registered: false, now: 2)
        // Both failed: a has more failures, but b rests while a's setback is over.
        #expect(roster.pick(now: 6) == "a")
        roster.ended("a", registered: true, now: 60)
        // Long after both setbacks: a's failures were forgotten when it registered, b still counts one.
        #expect(roster.pick(now: 100) == "a")
    }

    @Test func aReplicaGoingAwayIsPassedOverWhileAnotherIsFree() {
        var roster = GatewayRoster(addresses: ["a", "b", "c"], setbackSeconds: 30)
        #expect(roster.pick(now: 0) == "a")
        roster.goingAway("b", now: 1)
        #expect(roster.pick(now: 2) == "c", "b drains: the rotation skips it")
        #expect(roster.pick(now: 2) == "b", "still the only free one: better than nothing")
    }

    @Test func nodesStartTheirRotationAtTheirOwnOffset() {
        var first = GatewayRoster(addresses: ["a", "b", "c"], rotationOffset: 0)
        var second = GatewayRoster(addresses: ["a", "b", "c"], rotationOffset: 1)
        var third = GatewayRoster(addresses: ["a", "b", "c"], rotationOffset: 5)
        #expect(first.pick(now: 0) == "a")
        #expect(second.pick(now: 0) == "b")
        #expect(third.pick(now: 0) == "c")
    }

    @Test func resolutionChangesKeepWhatWasLearntAndDropWhatIsGone() {
        var roster = GatewayRoster(addresses: ["a", "b"], setbackSeconds: 30)
        #expect(roster.pick(now: 0) == "a")
        roster.ended("a", registered: false, now: 0)
        roster.update(["b", "a", "d", "d"])
        #expect(roster.addresses == ["b", "a", "d"])
        #expect(roster.pick(now: 1) != "a", "a's failure survived the update")
        roster.update(["d"])
        #expect(roster.addresses == ["d"])
        roster.ended("a", registered: true, now: 2)  // a tunnel to an address that is gone ends: nothing to update
        #expect(roster.freeCount == 0, "d still carries its tunnel")
    }
}
