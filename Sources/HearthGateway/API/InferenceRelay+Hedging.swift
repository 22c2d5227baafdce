import HearthCore
import HearthProtocol
import NIOCore

extension InferenceRelay {
    /// One side of a hedge race, as it finished.
    private enum Lane: Sendable {
        case primary(Result<StreamEvent?, any Error>)
        case hedge(Attempt, Result<StreamEvent?, any Error>)
        /// No hedge ran: no budget, no node, or the race was over first.
        case noHedge
    }

    /// When ``GatewayConfiguration/hedging`` says the placed node may miss its TTFT target and another node
    /// predicts a faster first token, races that node for the first event: whichever sends first serves the stream,
    /// the other is cancelled. Returns the winner and the event it sent (the pump relays it first), or nil when no
    /// hedge was planned. A hedge spends a retry token, never counts as a failover, and runs under the same tenant
    /// and data class.
    func hedgeFirstToken(_ primary: Attempt, context: AttemptContext) async -> (attempt: Attempt, first: Result<StreamEvent?, any Error>)? {
        let policy = configuration.hedging
        guard policy.enabled else { return nil }
        let request = context.request
        let secondary = scheduler.preview(request, security: context.security, excluding: [primary.session.id])
        guard
            let plan = policy.plan(
                taskClass: request.taskClass, dataClass: context.security.dataClass, arrival: request.arrival,
                ttftTarget: scheduler.ttftTarget(for: request), primaryTTFT: primary.predictedTTFT,
                secondaryTTFT: secondary?.prediction.ttftSeconds, now: scheduler.now)
        else { return nil }
        var race = HedgeRace(primary: primary.session.id, plan: plan)
        let delay = max(0, plan.launchAt - scheduler.now)

        var winner: (attempt: Attempt, first: Result<StreamEvent?, any Error>)?
        var primaryResult: Result<StreamEvent?, any Error>?
        await withTaskGroup(of: Lane.self) { lanes in
            lanes.addTask { .primary(await Self.firstEvent(of: primary.stream)) }
            lanes.addTask { [self] in
                do { try await Task.sleep(for: .seconds(Self.finiteSeconds(delay))) } catch { return .noHedge }
                guard retryBudget.withLock({ $0.tryRetry(now: scheduler.now) }) else { return .noHedge }
                guard
                    let hedge = try? await startAttempt(
                        request, body: context.originalBody, excluding: [primary.session.id], context: context, hedge: true)
                else { return .noHedge }
                guard hedge.head.status < 300 else {
                    hedge.abandon()
                    return .noHedge
                }
                let first = await withTaskCancellationHandler {
                    await Self.firstEvent(of: hedge.stream)
                } onCancel: {
                    hedge.stream.fail(CancellationError())
                }
                return .hedge(hedge, first)
            }
            for await lane in lanes {
                switch lane {
                case .primary(let result):
                    primaryResult = result
                    if winner != nil { continue }
                    if case .success(.some) = result {
                        _ = race.handle(.firstToken(primary.session.id), now: scheduler.now)
                        winner = (primary, result)
                        lanes.cancelAll()
                    } else {
                        _ = race.handle(.failed(primary.session.id), now: scheduler.now)
                    }
                case .hedge(let hedge, let result):
                    if winner == nil, case .success(.some) = result {
                        _ = race.handle(.hedgeLaunched(hedge.session.id), now: scheduler.now)
                        _ = race.handle(.firstToken(hedge.session.id), now: scheduler.now)
                        winner = (hedge, result)
                        lanes.cancelAll()
                    } else {
                        // Lost the race, or failed before its first event: it never reached the client.
                        hedge.abandon()
                    }
                case .noHedge:
                    _ = race.handle(.hedgeNotLaunched, now: scheduler.now)
                }
            }
        }
        metrics.hedge(outcome: "\(race.outcome == .running ? .failed : race.outcome)")
        guard let winner, winner.attempt.session.id != primary.session.id else {
            // The primary serves, whatever it sent (its failure goes to the usual migration).
            return (primary, winner?.first ?? primaryResult ?? .success(nil))
        }
        primary.deadline.cancel()
        primary.session.cancel(primary.stream)
        primary.reservation.release(end: nil, afterHandOff: true)
        winner.attempt.reservation.handOff()
        // The hedge's node now serves: a failure from here on excludes it, not the primary alone.
        context.placed(on: winner.attempt.session.id)
        context.ticket.assign(winner.attempt.session)
        if !context.track(winner.attempt.stream) { winner.attempt.stream.fail(ClientGone()) }
        context.logger.notice(
            "hedge won the first token", metadata: ["node": "\(winner.attempt.session.id)", "primary": "\(primary.session.id)"])
        return winner
    }

    /// The stream's first event after its head (nil: it ended without one).
    private static func firstEvent(of stream: GatewayStream) async -> Result<StreamEvent?, any Error> {
        switch await stream.next() {
        case .event(let event): return .success(event)
        // A race that reads the stream's close leaves it there: the relay that serves reads it again.
        case .finished: return .success(nil)
        case .failed(let error): return .failure(error)
        }
    }
}
