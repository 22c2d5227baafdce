import HearthCore
import Testing

@Suite struct LinkQualityEstimatorTests {
    @Test func smoothsRTTAndJitter() {
        var link = LinkQualityEstimator()
        _ = link.handle(.rtt(seconds: 0.04), now: 0)
        #expect(link.estimate.rttSeconds == 0.04)
        #expect(link.estimate.jitterSeconds == 0.02)
        _ = link.handle(.rtt(seconds: 0.12), now: 1)
        #expect(abs(link.estimate.rttSeconds! - 0.05) < 1e-12)
        #expect(abs(link.estimate.jitterSeconds! - (0.75 * 0.02 + 0.25 * 0.08)) < 1e-12)
        _ = link.handle(.transfer(bytes: 1_000_000, seconds: 2), now: 2)
        #expect(link.estimate.bandwidthBytesPerSecond == 500_000)
    }

    @Test func drainsAfterHoldAndRestoresWithHysteresis() {
        var link = LinkQualityEstimator()
        var t = 0.0
        for _ in 0..<20 {
            _ = link.handle(.rtt(seconds: 0.03), now: t)
            t += 1
        }
        // 30 % loss: the loss EWMA passes 5 % after a couple of probes; drain once, after the 10 s hold.
        var actions: [LinkQualityEstimator.Action] = []
        var drainedAt: Double?
        for i in 0..<40 {
            let sample: LinkQualityEstimator.Sample = i % 3 == 0 ? .lost : .rtt(seconds: 0.03)
            let out = link.handle(sample, now: t)
            if out.contains(.drain) && drainedAt == nil { drainedAt = t }
            actions += out
            t += 1
        }
        #expect(actions == [.drain])
        #expect(drainedAt != nil && drainedAt! >= 30)
        #expect(link.isDegraded)
        // Loss stops: the link must be good (below the lower thresholds) for 60 s before restore.
        var restoredAt: Double?
        let recoveryStart = t
        for _ in 0..<200 {
            if link.handle(.rtt(seconds: 0.03), now: t).contains(.restore) { restoredAt = t }
            t += 1
        }
        #expect(restoredAt != nil && restoredAt! - recoveryStart >= 60)
        #expect(!link.isDegraded)
    }

    @Test func aBriefSpikeDoesNotDrain() {
        var link = LinkQualityEstimator()
        var actions: [LinkQualityEstimator.Action] = []
        actions += link.handle(.rtt(seconds: 0.03), now: 0)
        actions += link.handle(.rtt(seconds: 0.6), now: 1)  // one slow probe: jitter over the degrade line for a few seconds
        for t in 2..<40 { actions += link.handle(.rtt(seconds: 0.03), now: Double(t)) }
        #expect(actions.isEmpty)
        #expect(!link.isDegraded)
    }
}

@Suite struct HedgingTests {
    @Test func hedgesOnlyWhenAtRiskAndUseful() {
        let policy = HedgingPolicy(enabled: true)
        // Target 1 s; primary predicts 0.95 s (margin 5 %), secondary 0.3 s: hedge at half of the 0.7 s slack.
        let plan = policy.plan(
            taskClass: .chat, dataClass: .standard, arrival: 0, ttftTarget: 1, primaryTTFT: 0.95, secondaryTTFT: 0.3, now: 0)
        #expect(plan == HedgingPolicy.Plan(launchAt: 0.35, primaryMargin: 0.050000000000000044))
        // Comfortable margin, no hedge.
        #expect(
            policy.plan(taskClass: .chat, dataClass: .standard, arrival: 0, ttftTarget: 1, primaryTTFT: 0.5, secondaryTTFT: 0.3, now: 0)
                == nil)
        // A second node that cannot make it either: no hedge.
        #expect(
            policy.plan(taskClass: .chat, dataClass: .standard, arrival: 0, ttftTarget: 1, primaryTTFT: 1.5, secondaryTTFT: 1.2, now: 0)
                == nil)
        // Batch and disabled policies never hedge.
        #expect(
            policy.plan(taskClass: .batch, dataClass: .standard, arrival: 0, ttftTarget: 1, primaryTTFT: 0.95, secondaryTTFT: 0.3, now: 0)
                == nil)
        #expect(
            HedgingPolicy().plan(
                taskClass: .chat, dataClass: .standard, arrival: 0, ttftTarget: 1, primaryTTFT: 0.95, secondaryTTFT: 0.3, now: 0) == nil)
    }

    @Test func raceCancelsTheLoser() {
        let plan = HedgingPolicy.Plan(launchAt: 0.35, primaryMargin: 0.05)
        var race = HedgeRace(primary: NodeID("a"), plan: plan)
        let r2 = race.handle(.tick, now: 0.2)
        #expect(r2.isEmpty)
        let r3 = race.handle(.tick, now: 0.35)
        #expect(r3 == [.launchHedge])
        let r4 = race.handle(.tick, now: 0.4)
        #expect(r4.isEmpty)
        let r5 = race.handle(.hedgeLaunched(NodeID("b")), now: 0.36)
        #expect(r5.isEmpty)
        let r6 = race.handle(.firstToken(NodeID("b")), now: 0.7)
        #expect(r6 == [.commit(NodeID("b")), .cancel(NodeID("a"))])
        #expect(race.outcome == .hedgeWon)
        // The loser's late token is cancelled again, harmlessly.
        let r7 = race.handle(.firstToken(NodeID("a")), now: 0.9)
        #expect(r7 == [.cancel(NodeID("a"))])
    }

    @Test func primaryFirstNeedsNoHedge() {
        var race = HedgeRace(primary: NodeID("a"), plan: HedgingPolicy.Plan(launchAt: 1, primaryMargin: 0))
        let r8 = race.handle(.firstToken(NodeID("a")), now: 0.5)
        #expect(r8 == [.commit(NodeID("a"))])
        let r9 = race.handle(.tick, now: 2)
        #expect(r9.isEmpty)
        #expect(race.outcome == .primaryWithoutHedge)
    }

    @Test func bothFailHandsOverToMigration() {
        var race = HedgeRace(primary: NodeID("a"), plan: HedgingPolicy.Plan(launchAt: 0, primaryMargin: 0))
        _ = race.handle(.tick, now: 0)
        _ = race.handle(.hedgeLaunched(NodeID("b")), now: 0)
        let r10 = race.handle(.failed(NodeID("a")), now: 1)
        #expect(r10.isEmpty)
        let r11 = race.handle(.failed(NodeID("b")), now: 2)
        #expect(r11 == [.allFailed])
        #expect(race.outcome == .failed)
    }
}

@Suite struct StallDetectorTests {
    @Test func perClassLimits() {
        var stall = StallDetector(taskClass: .chat, ttftTarget: 1.2, started: 100)
        #expect(stall.deadline == 110)  // max(10, 3 × 1.2)
        stall.tokenArrived(now: 101)
        #expect(stall.deadline == 106)
        #expect(!stall.isStalled(now: 105.9))
        #expect(stall.isStalled(now: 106))
        var document = StallDetector(taskClass: .document, ttftTarget: 5, started: 0)
        #expect(document.deadline == 15)
        document.tokenArrived(now: 2)
        #expect(document.deadline == 10)
        document.restart(now: 20)
        #expect(document.deadline == 35)
    }
}
