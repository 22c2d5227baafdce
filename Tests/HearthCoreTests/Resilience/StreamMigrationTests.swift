import HearthCore
import Testing

@Suite struct StreamMigrationTests {
    static func migration(_ dataClass: DataClass = .sensitive, limits: StreamMigration.Limits = .init()) -> StreamMigration {
        StreamMigration(
            original: Fixtures.request(.chat, prompt: 1000, output: 200, arrival: 0),
            security: RequestSecurity(tenant: "t", dataClass: dataClass), limits: limits, firstNode: NodeID("a"))
    }

    @Test func resumesWithPromptPlusDeliveredTextOnAnotherNode() throws {
        var m = Self.migration()
        var budget = RetryBudget()
        let decision = m.attemptFailed(.tunnelClosed, delivered: .init(text: "Hello", completionTokens: 20), now: 3, budget: &budget)
        guard case .resume(let plan) = decision else {
            Issue.record("expected resume, got \(decision)")
            return
        }
        #expect(plan.attempt == 2)
        #expect(plan.continuation == "Hello")
        #expect(plan.request.promptTokens == 1020)
        #expect(plan.request.maxOutputTokens == 180)
        #expect(plan.request.arrival == 3)
        #expect(plan.security.dataClass == .sensitive)
        #expect(plan.security.excludedNodes == [NodeID("a")])
        #expect(m.failedOver)

        // The plan places through the same security filters: not on the failed node, not on a tampered one.
        var tampered = Fixtures.node("c")
        tampered.labels = [SecurityLabels.lastTamperAt: "0"]
        let fleet = FleetState(nodes: [Fixtures.node("a"), Fixtures.node("b"), tampered])
        var scheduler = Scheduler()
        let placed = scheduler.decide(plan.request, security: plan.security, fleet: fleet, now: 3)
        #expect(placed.placement?.node == NodeID("b"))
    }

    @Test func boundedByAttemptsDeadlineAndCause() {
        var budget = RetryBudget(configuration: .init(minRetriesPerSecond: 100))
        var m = Self.migration(limits: .init(maxAttempts: 2, maxTotalSeconds: 60))
        guard case .resume = m.attemptFailed(.stalled, delivered: .init(), now: 1, budget: &budget) else {
            Issue.record("expected a first resume")
            return
        }
        m.placed(on: NodeID("b"))
        guard case .giveUp(.attemptsExhausted(2)) = m.attemptFailed(.stalled, delivered: .init(), now: 2, budget: &budget) else {
            Issue.record("expected attempts exhausted")
            return
        }
        #expect(m.failedNodes == [NodeID("a"), NodeID("b")])

        var late = Self.migration(limits: .init(maxTotalSeconds: 60))
        guard case .giveUp(.deadlinePassed) = late.attemptFailed(.heartbeatLost, delivered: .init(), now: 61, budget: &budget) else {
            Issue.record("expected deadline")
            return
        }
        var gone = Self.migration()
        guard case .giveUp(.notRetryable(.clientGone)) = gone.attemptFailed(.clientGone, delivered: .init(), now: 1, budget: &budget) else {
            Issue.record("expected not retryable")
            return
        }
        var rejected = Self.migration()
        guard case .giveUp(.notRetryable) = rejected.attemptFailed(.engineError(status: 400), delivered: .init(), now: 1, budget: &budget)
        else {
            Issue.record("expected not retryable for 400")
            return
        }
        var done = Self.migration()
        guard
            case .giveUp(.alreadyComplete) = done.attemptFailed(
                .tunnelClosed, delivered: .init(text: "x", completionTokens: 3, finished: true), now: 1, budget: &budget)
        else {
            Issue.record("expected complete")
            return
        }
        #expect(StreamMigration.FailureCause.engineError(status: 503).isRetryable)
        #expect(StreamMigration.FailureCause.engineError(status: 429).isRetryable)
    }

    @Test func retryBudgetStopsAmplification() {
        var budget = RetryBudget(configuration: .init(ratio: 0.1, minRetriesPerSecond: 1, windowSeconds: 10))
        // An outage: 1000 requests fail in one second with no successes; only the reserve funds retries.
        var granted = 0
        for i in 0..<1000 where budget.tryRetry(now: Double(i) / 1000) { granted += 1 }
        #expect(granted <= 2)
        // Healthy traffic: 100 successes earn about 10 retries.
        var healthy = RetryBudget(configuration: .init(ratio: 0.1, minRetriesPerSecond: 0, windowSeconds: 10))
        for i in 0..<100 { healthy.recordSuccess(now: 100 + Double(i) / 1000) }
        var retries = 0
        while healthy.tryRetry(now: 100.1) { retries += 1 }
        #expect(retries >= 9 && retries <= 10)
        // Earned tokens decay: successes long ago fund nothing.
        var old = RetryBudget(configuration: .init(ratio: 0.1, minRetriesPerSecond: 0, windowSeconds: 10))
        for _ in 0..<100 { old.recordSuccess(now: 0) }
        let stale = old.tryRetry(now: 120)
        #expect(!stale)
    }
}
