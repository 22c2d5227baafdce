/// The decisions of one relayed request, from its first placement to its end: where each attempt goes and with
/// which body, what a failed attempt means for the client, when the client's leaving stops everything. The
/// gateway's relay performs the actions (places, opens streams, writes bytes, arms timers); every choice between
/// them is made here, so failover is a deterministic unit test rather than only an end-to-end one.
///
/// Phases: `placing` (an attempt is being placed or is waiting for its node's head), `answering` (the node sends
/// its answer) and `finished`. A streamed request is *committed* once its first head went to the client: from
/// then on a failed attempt resumes on another node with the delivered text as a prefix
/// (``Body/continuation(text:remainingMaxTokens:)``), or the stream ends with the failure as its last event. A
/// buffered request (or a streamed one before it is committed) is retried with its original body, or answered
/// with the failure, since nothing reached the client. ``StreamMigration`` bounds both (attempts, deadline, the
/// gateway's ``RetryBudget``).
///
/// `Failure` is the shell's description of a failure (the error the client would get): the machine only chooses
/// which one the client hears.
public struct RelayStateMachine<Failure: Sendable>: Sendable {
    public enum Delivery: Sendable, Hashable {
        /// The answer reaches the client whole, after the node ends it.
        case buffered
        /// The answer is relayed event by event as the node sends it.
        case streamed
    }

    /// What an attempt sends the engine.
    public enum Body: Sendable, Hashable {
        /// The request as the client sent it (after the gateway's allow-list).
        case original
        /// The request continued after `text`, already delivered, with `remainingMaxTokens` left (``ContinuationBody``).
        case continuation(text: String, remainingMaxTokens: Int)
    }

    /// One attempt to place.
    public struct Placement: Sendable {
        /// The request to schedule (grown by the delivered text when it continues one).
        public var request: SchedulingRequest
        /// Nodes it must not go to: those that failed it, and those that would not start it.
        public var excluding: Set<NodeID>
        public var body: Body
        /// Why the previous attempt failed; nil for the first attempt and for a free re-placement.
        public var replacing: StreamMigration.FailureCause?
        /// 1 for the first attempt.
        public var attempt: Int
    }

    public enum Action: Sendable {
        /// Place this attempt, open its stream and wait for its head.
        case place(Placement)
        /// Nothing reached the client: answer it with this failure.
        case respond(with: Failure)
        /// A committed stream cannot go on: end it. `complete`: the client already has the whole answer (its finish
        /// reason), so the stream closes as a success; otherwise `failure` is its last event.
        case endStream(Failure, complete: Bool, reason: StreamMigration.GiveUpReason?)
        /// The client left: stop whatever runs, bill what ran as cancelled.
        case stop
    }

    private enum Phase: Sendable, Hashable {
        case placing
        case answering
        case finished
    }

    public let delivery: Delivery
    private var phase = Phase.placing
    private var migration: StreamMigration
    private var pending: Placement
    /// The failure the current placement replaces: what the client hears when no node can take the retry.
    private var lastFailure: Failure?
    private var lastDelivered = StreamMigration.Delivered()
    /// The client has the stream's head (streamed delivery only).
    public private(set) var committed = false
    public private(set) var clientGone = false

    public init(
        request: SchedulingRequest, security: RequestSecurity, limits: StreamMigration.Limits = .init(), delivery: Delivery
    ) {
        self.delivery = delivery
        self.migration = StreamMigration(original: request, security: security, limits: limits)
        self.pending = Placement(request: request, excluding: security.excludedNodes, body: .original, replacing: nil, attempt: 1)
    }

    /// Attempts so far, the first included.
    public var attempts: Int { migration.attempts }
    /// Whether the request moved at least once (a failed-over request is recorded as such).
    public var failedOver: Bool { migration.failedOver }
    public var isFinished: Bool { phase == .finished }

    /// The first attempt.
    public func start() -> Action { .place(pending) }

    /// The scheduler placed the current attempt on `node`.
    public mutating func placed(on node: NodeID) {
        migration.placed(on: node)
    }

    /// The node placed would not start the request (not admitting: the scheduler's view was a heartbeat old). It did
    /// no work, so placing elsewhere costs no attempt and no retry token.
    public mutating func refusedToStart(by node: NodeID) -> Action {
        guard !clientGone else { return finish(.stop) }
        migration.noNodeAvailable()
        pending.excluding.insert(node)
        pending.replacing = nil
        return .place(pending)
    }

    /// No node can take the current attempt. A retry's client hears what went wrong with the attempt it replaces,
    /// not the scheduler's refusal; a first attempt's client hears the refusal.
    public mutating func noNodeAvailable(_ refusal: Failure) -> Action {
        migration.noNodeAvailable()
        guard !clientGone else { return finish(.stop) }
        let failure = lastFailure ?? refusal
        if committed {
            return finish(.endStream(failure, complete: lastDelivered.finished, reason: nil))
        }
        return finish(.respond(with: failure))
    }

    /// The current attempt's node sent its head: its answer follows. A streamed request is committed from here.
    public mutating func headReceived() {
        guard phase == .placing else { return }
        phase = .answering
        if delivery == .streamed { committed = true }
    }

    /// The current attempt failed before its answer ended.
    /// - Parameters:
    ///   - delivered: what the client has of a committed stream (ignored otherwise);
    ///   - replayKept: whether the gateway kept all of it (a longer answer than its replay limit cannot move).
    public mutating func attemptFailed(
        _ cause: StreamMigration.FailureCause, failure: Failure, delivered: StreamMigration.Delivered = .init(), replayKept: Bool = true,
        now: Double, budget: inout RetryBudget
    ) -> Action {
        guard phase != .finished else { return .stop }
        guard !clientGone, cause != .clientGone else { return finish(.stop) }
        lastFailure = failure
        if committed {
            lastDelivered = delivered
            guard replayKept else { return finish(.endStream(failure, complete: delivered.finished, reason: nil)) }
            switch migration.attemptFailed(cause, delivered: delivered, now: now, budget: &budget) {
            case .resume(let plan):
                return replace(
                    plan, body: .continuation(text: plan.continuation, remainingMaxTokens: plan.remainingMaxTokens), cause: cause)
            case .giveUp(let reason):
                return finish(.endStream(failure, complete: delivered.finished, reason: reason))
            }
        }
        switch migration.attemptFailed(cause, delivered: .init(), now: now, budget: &budget) {
        case .resume(let plan):
            return replace(plan, body: .original, cause: cause)
        case .giveUp:
            return finish(.respond(with: failure))
        }
    }

    /// The current attempt's answer ended well: the request is done, and its success funds later retries.
    public mutating func completed(now: Double, budget: inout RetryBudget) {
        guard phase != .finished else { return }
        phase = .finished
        budget.recordSuccess(now: now)
    }

    /// The client closed its connection. Returns whether work still runs that must stop (the shell cancels the
    /// current attempt's stream); every later event then yields ``Action/stop``.
    public mutating func clientLeft() -> Bool {
        guard !clientGone else { return false }
        clientGone = true
        return phase != .finished
    }

    private mutating func replace(_ plan: StreamMigration.ResumePlan, body: Body, cause: StreamMigration.FailureCause) -> Action {
        phase = .placing
        pending = Placement(
            request: plan.request, excluding: plan.security.excludedNodes, body: body, replacing: cause, attempt: plan.attempt)
        return .place(pending)
    }

    private mutating func finish(_ action: Action) -> Action {
        phase = .finished
        return action
    }
}
