import HearthCore
import Testing

/// Issue 12: link degradation needs evidence of the link, not of a busy host.
@Suite struct LinkEvidenceTests {
    static let fast = LinkQualityEstimator.Configuration(enterHoldSeconds: 2, exitHoldSeconds: 5)

    /// One probe a second for `seconds`: each answered after `rtt`, or lost; `stall` reports a host stall first.
    static func probe(
        _ estimator: inout LinkQualityEstimator, from start: Double, seconds: Int, rtt: Double?, stall: Double? = nil
    ) -> [LinkQualityEstimator.Action] {
        var actions: [LinkQualityEstimator.Action] = []
        for second in 0..<seconds {
            let now = start + Double(second)
            if let stall { actions += estimator.handle(.hostStall(seconds: stall), now: now) }
            actions += estimator.handle(rtt.map { .rtt(seconds: $0) } ?? .lost, now: now)
        }
        return actions
    }

    @Test func echoesDelayedByAStarvedHostDoNotDrain() {
        var estimator = LinkQualityEstimator(configuration: Self.fast)
        // A loaded two-core box: every heartbeat fires 400 ms late and its echo comes back 400.6 ms after it left.
        let actions = Self.probe(&estimator, from: 0, seconds: 30, rtt: 0.4006, stall: 0.4)
        #expect(actions.isEmpty)
        #expect(!estimator.isDegraded)
        #expect((estimator.estimate.rttSeconds ?? 1) < 0.01)
    }

    @Test func echoesLostWhileTheHostStallsAreNotLoss() {
        var estimator = LinkQualityEstimator(configuration: Self.fast)
        _ = Self.probe(&estimator, from: 0, seconds: 5, rtt: 0.001)
        let actions = Self.probe(&estimator, from: 5, seconds: 20, rtt: nil, stall: 3)
        #expect(actions.isEmpty)
        #expect(estimator.estimate.lossFraction < 0.01)
    }

    @Test func theSameDelaysWithoutAHostStallAreTheLinksAndDrain() {
        var estimator = LinkQualityEstimator(configuration: Self.fast)
        #expect(Self.probe(&estimator, from: 0, seconds: 30, rtt: 0.4006) == [.drain])
        var lossy = LinkQualityEstimator(configuration: Self.fast)
        _ = Self.probe(&lossy, from: 0, seconds: 5, rtt: 0.001)
        #expect(Self.probe(&lossy, from: 5, seconds: 20, rtt: nil) == [.drain])
    }

    @Test func aStallOnlyExplainsDelaysWhileItIsRecent() {
        var estimator = LinkQualityEstimator(configuration: Self.fast)
        _ = estimator.handle(.hostStall(seconds: 0.5), now: 0)
        // Eleven seconds on (past the 10 s memory) a slow echo is the link's again.
        #expect(Self.probe(&estimator, from: 11, seconds: 30, rtt: 0.5) == [.drain])
    }

    @Test func aLinkThatCannotBeTheBottleneckIsReportedButNeverDrains() {
        var configuration = Self.fast
        configuration.judgesLink = false
        var estimator = LinkQualityEstimator(configuration: configuration)
        #expect(Self.probe(&estimator, from: 0, seconds: 30, rtt: nil).isEmpty)
        #expect(!estimator.isDegraded)
        #expect(estimator.estimate.lossFraction > 0.5, "still measured and reported")
    }
}
