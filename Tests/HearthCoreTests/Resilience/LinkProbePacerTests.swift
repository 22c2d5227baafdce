import HearthCore
import Testing

/// Which heartbeats probe the link: every one while it matters or is in doubt, one in `idleEvery` on an idle node
/// whose link is measured and good.
@Suite struct LinkProbePacerTests {
    func pattern(_ pacer: inout LinkProbePacer, beats: Int, busy: Bool = false, inDoubt: Bool = false) -> [Bool] {
        (0..<beats).map { _ in pacer.nextIsProbe(busy: busy, linkInDoubt: inDoubt) }
    }

    @Test func aFreshTunnelProbesEveryBeatThenThinsOutWhileIdle() {
        var pacer = LinkProbePacer(idleEvery: 4, warmUpProbes: 3)
        #expect(pattern(&pacer, beats: 3) == [true, true, true])
        #expect(pattern(&pacer, beats: 8) == [false, false, false, true, false, false, false, true])
    }

    @Test func streamsOrALinkInDoubtMakeEveryBeatAProbe() {
        var pacer = LinkProbePacer(idleEvery: 4, warmUpProbes: 0)
        #expect(pattern(&pacer, beats: 4) == [false, false, false, true])
        #expect(pattern(&pacer, beats: 3, busy: true) == [true, true, true])
        #expect(pattern(&pacer, beats: 3, inDoubt: true) == [true, true, true])
        // Idle again: the count starts from the last probe.
        #expect(pattern(&pacer, beats: 4) == [false, false, false, true])
    }

    @Test func everyOneMeansEveryBeat() {
        var pacer = LinkProbePacer(idleEvery: 1, warmUpProbes: 0)
        #expect(pattern(&pacer, beats: 5) == [true, true, true, true, true])
    }

    @Test func aLostProbePutsTheLinkInDoubtUntilEchoesWearItOff() {
        var estimator = LinkQualityEstimator()
        _ = estimator.handle(.rtt(seconds: 0.01), now: 0)
        #expect(!estimator.isInDoubt)
        _ = estimator.handle(.lost, now: 1)
        #expect(estimator.isInDoubt && !estimator.isDegraded)
        // Each echo decays the loss estimate by a tenth: 0.1 × 0.9^44 is under a thousandth.
        for second in 2..<45 { _ = estimator.handle(.rtt(seconds: 0.01), now: Double(second)) }
        #expect(estimator.isInDoubt)
        _ = estimator.handle(.rtt(seconds: 0.01), now: 45)
        #expect(!estimator.isInDoubt)
    }
}
