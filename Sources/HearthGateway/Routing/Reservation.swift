import HearthCore
import HearthProtocol
import Synchronization

/// A request's claim on a node, from placement to the end of its answer. Released exactly once:
/// the registry's count and the scheduler's view of the node's load go down together, and the
/// answer's timings refine the node's profile.
final class Reservation: Sendable {
    let session: NodeSession
    private let model: String
    private let promptTokens: Int
    private let batch: Int
    private let registry: NodeRegistry
    private let scheduler: FleetScheduler
    /// The tenant's place on the node (batch isolation), released with the reservation.
    private let claim: FleetScheduler.OccupancyClaim?
    private let started = ContinuousClock.now
    private let state = Mutex<(handedOff: Bool, released: Bool)>((false, false))

    init(
        session: NodeSession, model: String, promptTokens: Int, batch: Int, registry: NodeRegistry, scheduler: FleetScheduler,
        claim: FleetScheduler.OccupancyClaim? = nil
    ) {
        self.claim = claim
        self.session = session
        self.model = model
        self.promptTokens = promptTokens
        self.batch = max(1, batch)
        self.registry = registry
        self.scheduler = scheduler
    }

    /// A streamed body takes the reservation over; releases not marked `afterHandOff` are ignored.
    func handOff() { state.withLock { $0.handedOff = true } }

    /// Ends the reservation (once). `observed`: what the gateway itself saw of a streamed answer (when its first byte
    /// arrived, how many content events it relayed); without it the node's own figures time the answer, and
    /// ``FleetScheduler`` lets them slow the node's profile down, never speed it up.
    func release(end: StreamEnd?, afterHandOff: Bool = false, observed: ObservedAnswer? = nil) {
        let first = state.withLock { state -> Bool in
            guard !state.released, !state.handedOff || afterHandOff else { return false }
            state.released = true
            return true
        }
        guard first else { return }
        // The scheduler first: the registry's release wakes queued requests, which must see the node free.
        scheduler.finished(session.id, promptTokens: promptTokens, model: model, observed: timing(end, observed: observed), claim: claim)
        registry.release(session)
    }

    /// What this answer says about the node's speed (see ``AnswerTiming``); nil when it failed.
    private func timing(_ end: StreamEnd?, observed: ObservedAnswer?) -> AnswerTiming? {
        guard let end, end.error == nil else { return nil }
        let firstByte = observed?.firstByteAt.map { ($0 - started).seconds }
        return AnswerTiming(
            promptTokens: end.usage?.promptTokens ?? promptTokens, claimedCompletionTokens: end.usage?.completionTokens,
            relayedContentEvents: observed?.contentEvents, batch: batch, totalSeconds: (ContinuousClock.now - started).seconds,
            firstByteSeconds: firstByte, claimedFirstTokenSeconds: end.engineTimeToFirstTokenMilliseconds.map { $0 / 1000 },
            linkRTTSeconds: scheduler.linkRTTSeconds(of: session.id) ?? 0)
    }
}

/// What the gateway itself saw of a streamed answer, for timing the node by the gateway's clock.
struct ObservedAnswer: Sendable, Equatable {
    /// When the first byte of the answer reached the gateway.
    var firstByteAt: ContinuousClock.Instant?
    /// Content events (tokens) the gateway relayed to the client.
    var contentEvents: Int?

    init(firstByteAt: ContinuousClock.Instant?, contentEvents: Int?) {
        self.firstByteAt = firstByteAt
        self.contentEvents = contentEvents
    }
}
