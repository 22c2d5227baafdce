import HearthCore
import Testing

/// Every path of one relayed request, driven event by event as the gateway's relay drives it.
@Suite struct RelayStateMachineTests {
    typealias Machine = RelayStateMachine<String>

    static func machine(
        _ delivery: Machine.Delivery, limits: StreamMigration.Limits = .init(), dataClass: DataClass = .standard
    ) -> Machine {
        Machine(
            request: Fixtures.request(.chat, prompt: 1000, output: 200, arrival: 0),
            security: RequestSecurity(tenant: "t", dataClass: dataClass), limits: limits, delivery: delivery)
    }

    /// A budget with retries to spare, unless a test wants it empty.
    static func budget(retriesPerSecond: Double = 100) -> RetryBudget {
        RetryBudget(configuration: .init(ratio: 0, minRetriesPerSecond: retriesPerSecond))
    }

    static func placement(_ action: Machine.Action, sourceLocation: SourceLocation = #_sourceLocation) -> Machine.Placement? {
        guard case .place(let placement) = action else {
            Issue.record("expected a placement, got \(action)", sourceLocation: sourceLocation)
            return nil
        }
        return placement
    }

    @Test func aStreamThatSucceedsPlacesOnceAndFundsRetries() throws {
        var machine = Self.machine(.streamed)
        let first = try #require(Self.placement(machine.start()))
        #expect(first.attempt == 1)
        #expect(first.body == .original)
        #expect(first.excluding.isEmpty)
        #expect(first.replacing == nil)
        machine.placed(on: NodeID("a"))
        machine.headReceived()
        #expect(machine.committed)
        var budget = RetryBudget(configuration: .init(ratio: 1, minRetriesPerSecond: 0))
        let spareBefore = budget.tryRetry(now: 1)
        #expect(!spareBefore)
        machine.completed(now: 1, budget: &budget)
        #expect(machine.isFinished)
        #expect(!machine.failedOver)
        let spareAfter = budget.tryRetry(now: 1)
        #expect(spareAfter, "a success earns a retry token")
        let mustStop = machine.clientLeft()
        #expect(!mustStop, "nothing runs any more when the client leaves after the end")
    }

    @Test func aFailureBeforeTheHeadIsRetriedElsewhereWithTheOriginalBody() throws {
        var machine = Self.machine(.streamed)
        var budget = Self.budget()
        _ = machine.start()
        machine.placed(on: NodeID("a"))
        let retry = try #require(Self.placement(machine.attemptFailed(.tunnelClosed, failure: "a lost", now: 1, budget: &budget)))
        #expect(retry.attempt == 2)
        #expect(retry.body == .original, "nothing reached the client: no continuation")
        #expect(retry.excluding == [NodeID("a")])
        #expect(retry.replacing == .tunnelClosed)
        #expect(!machine.committed)
        machine.placed(on: NodeID("b"))
        machine.headReceived()
        machine.completed(now: 2, budget: &budget)
        #expect(machine.failedOver)
        #expect(machine.attempts == 2)
    }

    @Test func aRetryWithNoNodeTellsTheClientTheFirstFailure() {
        var machine = Self.machine(.buffered)
        var budget = Self.budget()
        _ = machine.start()
        machine.placed(on: NodeID("a"))
        _ = machine.attemptFailed(.stalled, failure: "a timed out", now: 1, budget: &budget)
        guard case .respond(with: "a timed out") = machine.noNodeAvailable("no capacity") else {
            Issue.record("expected the first failure")
            return
        }
        #expect(machine.isFinished)

        var fresh = Self.machine(.buffered)
        _ = fresh.start()
        guard case .respond(with: "no capacity") = fresh.noNodeAvailable("no capacity") else {
            Issue.record("a first attempt's client hears the refusal")
            return
        }
    }

    @Test func aNodeThatWillNotStartIsPassedOverForFree() throws {
        var machine = Self.machine(.streamed)
        var budget = Self.budget(retriesPerSecond: 0)
        _ = machine.start()
        machine.placed(on: NodeID("a"))
        let next = try #require(Self.placement(machine.refusedToStart(by: NodeID("a"))))
        #expect(next.attempt == 1, "no attempt spent")
        #expect(next.excluding == [NodeID("a")])
        machine.placed(on: NodeID("b"))
        let again = try #require(Self.placement(machine.refusedToStart(by: NodeID("b"))))
        #expect(again.excluding == [NodeID("a"), NodeID("b")])
        machine.placed(on: NodeID("c"))
        machine.headReceived()
        machine.completed(now: 1, budget: &budget)
        #expect(!machine.failedOver)
    }

    @Test func aBufferedAnswerThatFailsAfterItsHeadIsStillRetriedWhole() throws {
        var machine = Self.machine(.buffered)
        var budget = Self.budget()
        _ = machine.start()
        machine.placed(on: NodeID("a"))
        machine.headReceived()
        #expect(!machine.committed, "a buffered answer commits nothing before it ends")
        let retry = try #require(
            Self.placement(
                machine.attemptFailed(
                    .engineError(status: 500), failure: "a failed", delivered: .init(text: "ignored", completionTokens: 5), now: 1,
                    budget: &budget)))
        #expect(retry.body == .original)
        #expect(retry.request.promptTokens == 1000)
    }

    @Test func aStreamThatFailsMidAnswerContinuesAfterWhatWasDelivered() throws {
        var machine = Self.machine(.streamed, dataClass: .sensitive)
        var budget = Self.budget()
        _ = machine.start()
        machine.placed(on: NodeID("a"))
        machine.headReceived()
        let resume = try #require(
            Self.placement(
                machine.attemptFailed(
                    .heartbeatLost, failure: "a lost", delivered: .init(text: "Hello there", completionTokens: 30), now: 4,
                    budget: &budget)))
        #expect(resume.body == .continuation(text: "Hello there", remainingMaxTokens: 170))
        #expect(resume.request.promptTokens == 1030)
        #expect(resume.request.arrival == 4)
        #expect(resume.excluding == [NodeID("a")])

        // The next node fails before its head: the client still has the same text, so the next try continues it too.
        machine.placed(on: NodeID("b"))
        let third = try #require(
            Self.placement(
                machine.attemptFailed(
                    .tunnelClosed, failure: "b lost", delivered: .init(text: "Hello there", completionTokens: 30), now: 5,
                    budget: &budget)))
        #expect(third.attempt == 3)
        #expect(third.excluding == [NodeID("a"), NodeID("b")])
        #expect(third.body == .continuation(text: "Hello there", remainingMaxTokens: 170))
    }

    @Test func aStreamThatCannotMoveEndsWithItsFailureOrAsComplete() {
        // Attempts exhausted: the failure is the stream's last event.
        var exhausted = Self.machine(.streamed, limits: .init(maxAttempts: 1))
        var budget = Self.budget()
        _ = exhausted.start()
        exhausted.headReceived()
        guard
            case .endStream("lost", complete: false, reason: .attemptsExhausted(1)) = exhausted.attemptFailed(
                .tunnelClosed, failure: "lost", delivered: .init(text: "Hi", completionTokens: 1), now: 1, budget: &budget)
        else {
            Issue.record("expected the stream to end with the failure")
            return
        }

        // The client already has the finish reason: only [DONE] was lost, the stream closes as a success.
        var finished = Self.machine(.streamed)
        _ = finished.start()
        finished.headReceived()
        guard
            case .endStream(_, complete: true, reason: .alreadyComplete) = finished.attemptFailed(
                .tunnelClosed, failure: "lost", delivered: .init(text: "Hi.", completionTokens: 2, finished: true), now: 1,
                budget: &budget)
        else {
            Issue.record("expected a complete end")
            return
        }

        // More text than the gateway keeps for a replay: it cannot continue on another node.
        var long = Self.machine(.streamed)
        _ = long.start()
        long.headReceived()
        guard
            case .endStream("lost", complete: false, reason: nil) = long.attemptFailed(
                .tunnelClosed, failure: "lost", delivered: .init(text: "…", completionTokens: 90), replayKept: false, now: 1,
                budget: &budget)
        else {
            Issue.record("expected the stream to end: its replay was not kept")
            return
        }

        // Resumed, then no node for the continuation: the client hears the mid-stream failure.
        var stranded = Self.machine(.streamed)
        _ = stranded.start()
        stranded.headReceived()
        _ = stranded.attemptFailed(
            .stalled, failure: "a stalled", delivered: .init(text: "Hi", completionTokens: 1), now: 1, budget: &budget)
        guard case .endStream("a stalled", complete: false, reason: nil) = stranded.noNodeAvailable("no capacity") else {
            Issue.record("expected the mid-stream failure")
            return
        }
    }

    @Test func anEmptyRetryBudgetEndsTheRequestInsteadOfRetrying() {
        var budget = Self.budget(retriesPerSecond: 0)
        var buffered = Self.machine(.buffered)
        _ = buffered.start()
        guard case .respond(with: "lost") = buffered.attemptFailed(.tunnelClosed, failure: "lost", now: 1, budget: &budget) else {
            Issue.record("expected the failure: no retry token")
            return
        }
        var streamed = Self.machine(.streamed)
        _ = streamed.start()
        streamed.headReceived()
        guard
            case .endStream("lost", complete: false, reason: .retryBudgetExhausted) = streamed.attemptFailed(
                .tunnelClosed, failure: "lost", delivered: .init(text: "Hi", completionTokens: 1), now: 1, budget: &budget)
        else {
            Issue.record("expected the stream to end: no retry token")
            return
        }
    }

    @Test func anEngineThatRejectsTheRequestIsNotAskedElsewhere() {
        var machine = Self.machine(.buffered)
        var budget = Self.budget()
        _ = machine.start()
        guard
            case .respond(with: "bad request") = machine.attemptFailed(
                .engineError(status: 400), failure: "bad request", now: 1, budget: &budget)
        else {
            Issue.record("a 400 is the request's fault: no retry")
            return
        }
        var throttled = Self.machine(.buffered)
        _ = throttled.start()
        guard case .place = throttled.attemptFailed(.engineError(status: 429), failure: "busy", now: 1, budget: &budget) else {
            Issue.record("a 429 may succeed elsewhere")
            return
        }
    }

    @Test func aRequestPastItsDeadlineIsNotMoved() {
        var machine = Self.machine(.streamed, limits: .init(maxTotalSeconds: 30))
        var budget = Self.budget()
        _ = machine.start()
        machine.headReceived()
        guard
            case .endStream(_, complete: false, reason: .deadlinePassed) = machine.attemptFailed(
                .stalled, failure: "stalled", delivered: .init(text: "Hi", completionTokens: 1), now: 31, budget: &budget)
        else {
            Issue.record("expected the deadline to end it")
            return
        }
    }

    @Test func aClientThatLeavesStopsEverythingAfter() {
        var budget = Self.budget()
        var machine = Self.machine(.streamed)
        _ = machine.start()
        machine.placed(on: NodeID("a"))
        machine.headReceived()
        let mustStop = machine.clientLeft()
        let mustStopAgain = machine.clientLeft()
        #expect(mustStop, "the running attempt must be stopped")
        #expect(!mustStopAgain, "once")
        guard case .stop = machine.attemptFailed(.tunnelClosed, failure: "lost", now: 1, budget: &budget) else {
            Issue.record("a failure after the client left moves nothing")
            return
        }
        #expect(machine.isFinished)

        var placing = Self.machine(.buffered)
        _ = placing.start()
        let placingMustStop = placing.clientLeft()
        #expect(placingMustStop)
        guard case .stop = placing.refusedToStart(by: NodeID("a")) else {
            Issue.record("no re-placement for a client that left")
            return
        }
        var waiting = Self.machine(.buffered)
        _ = waiting.start()
        _ = waiting.clientLeft()
        guard case .stop = waiting.noNodeAvailable("no capacity") else {
            Issue.record("no error for a client that left")
            return
        }
        var hungUp = Self.machine(.streamed)
        _ = hungUp.start()
        guard case .stop = hungUp.attemptFailed(.clientGone, failure: "gone", now: 1, budget: &budget) else {
            Issue.record("a client-gone failure stops")
            return
        }
    }
}
