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

    func release(end: StreamEnd?, afterHandOff: Bool = false) {
        let first = state.withLock { state -> Bool in
            guard !state.released, !state.handedOff || afterHandOff else { return false }
            state.released = true
            return true
        }
        guard first else { return }
        // The scheduler first: the registry's release wakes queued requests, which must see the node free.
        scheduler.finished(session.id, promptTokens: promptTokens, model: model, observed: observation(end), claim: claim)
        registry.release(session)
    }

    /// What this answer says about the node: prefill time from the engine's first token, decode step
    /// time from the rest. Nil when the answer failed or was too short to tell.
    private func observation(_ end: StreamEnd?) -> CalibrationSample? {
        guard let end, end.error == nil, let usage = end.usage, usage.completionTokens > 1,
            let ttftMilliseconds = end.engineTimeToFirstTokenMilliseconds
        else { return nil }
        let total = (ContinuousClock.now - started).seconds
        let prefill = ttftMilliseconds / 1000
        let decode = max(0, total - prefill) / Double(usage.completionTokens - 1)
        guard prefill > 0, decode > 0 else { return nil }
        return CalibrationSample(promptTokens: usage.promptTokens, prefillSeconds: prefill, batchSize: batch, decodeStepSeconds: decode)
    }
}
