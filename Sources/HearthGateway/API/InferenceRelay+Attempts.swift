import Foundation
import HTTPTypes
import HearthCore
import HearthProtocol
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// One node's try at a request, and the loop that performs ``RelayStateMachine``'s placements until a node answers.
extension InferenceRelay {
    /// One node's try at the request: its reservation, stream and head.
    struct Attempt: Sendable {
        var reservation: Reservation
        var stream: GatewayStream
        var deadline: Scheduled<Void>
        var head: StreamHead
        var reason: String
        /// The scheduler's TTFT prediction when it placed this attempt (hedging compares it with another node's).
        var predictedTTFT: Double
        /// Placed knowing the class target will be missed (``SLOPolicy/bestEffort``).
        var bestEffort = false
        var session: NodeSession { reservation.session }

        /// Stops an attempt that never reached the client: its timer, its stream on the node, its reservation.
        func abandon() {
            deadline.cancel()
            session.cancel(stream)
            reservation.release(end: nil)
        }
    }

    /// Why an attempt ended early, with the error the client gets if the request is not resumed.
    struct AttemptFailure: Error {
        var cause: StreamMigration.FailureCause
        var error: OpenAIError
        var usage: TokenUsage?
    }

    /// What all attempts at one request share.
    final class AttemptContext: Sendable {
        let header: StreamOpen
        let originalBody: ByteBuffer
        let endpoint: SSEStreamSplicer.Endpoint
        let promptTokens: Int
        /// Longest silence between events before the stream counts as stalled and moves (per task class).
        let interTokenStall: Duration
        /// The request as first scheduled (a hedge is placed with it).
        let request: SchedulingRequest
        let ticket: UsageTicket
        /// The tenant, its data class and the clean window: every attempt is placed under it.
        let security: RequestSecurity
        /// The engine cache salt of the request's partition (sent to engines that take one).
        let cacheSalt: String
        private let relayLogger: Logger
        /// What the client gets of a streamed answer instead of the node's events (a Responses API translation, one
        /// choice of several); nil: the events as they are.
        let filter: (any ClientStreamFilter)?
        /// The relay's logger with the request's id and tenant on every line (made when a line is written: most
        /// requests write none).
        var logger: Logger {
            var logger = relayLogger
            logger[metadataKey: "request_id"] = "\(ticket.requestID)"
            logger[metadataKey: "tenant"] = "\(ticket.tenant)"
            return logger
        }
        /// The request's decisions (``RelayStateMachine``) and the stream a client hang-up stops.
        private let state: Mutex<(machine: RelayStateMachine<AttemptFailure>, current: GatewayStream?)>
        /// Time spent waiting on nodes (open frame to head, and a buffered answer's body), for `X-Hearth-Overhead-Ms`.
        private let nodeWait = Mutex(Duration.zero)

        func waitedOnNode(_ duration: Duration) { nodeWait.withLock { $0 += duration } }

        /// What the client gets of a streamed answer's bytes (whole events, in order): the bytes, or what ``filter``
        /// makes of them. A node's error answer (status 300 and up) goes as it is.
        func forClient(_ bytes: ByteBuffer, status: Int, ending: Bool = false) -> ByteBuffer {
            guard let filter, status < 300 else { return bytes }
            return filter.client(bytes, ending: ending)
        }

        /// The gateway's own time since `started`, ms, three decimals.
        func overheadMilliseconds(since started: ContinuousClock.Instant) -> String {
            let own = (ContinuousClock.now - started) - nodeWait.withLock { $0 }
            let ms = max(0, Double(own.components.seconds) * 1_000 + Double(own.components.attoseconds) / 1e15)
            return String((ms * 1_000).rounded() / 1_000)
        }

        init(
            header: StreamOpen, originalBody: ByteBuffer, endpoint: SSEStreamSplicer.Endpoint, interTokenStall: Duration,
            request: SchedulingRequest, promptTokens: Int, ticket: UsageTicket, security: RequestSecurity, cacheSalt: String,
            machine: RelayStateMachine<AttemptFailure>, filter: (any ClientStreamFilter)? = nil, logger: Logger
        ) {
            relayLogger = logger
            self.filter = filter
            self.interTokenStall = interTokenStall
            self.request = request
            self.security = security
            self.cacheSalt = cacheSalt
            self.header = header
            self.originalBody = originalBody
            self.endpoint = endpoint
            self.promptTokens = promptTokens
            self.ticket = ticket
            state = Mutex((machine, nil))
        }

        var clientGone: Bool { state.withLock { $0.machine.clientGone } }
        var attempts: Int { state.withLock { $0.machine.attempts } }
        var failedOver: Bool { state.withLock { $0.machine.failedOver } }

        func clientLeft() {
            let current = state.withLock { state in state.machine.clientLeft() ? state.current : nil }
            current?.fail(ClientGone())
        }

        /// Makes `stream` the one a client hang-up stops; false when the client already left.
        func track(_ stream: GatewayStream?) -> Bool {
            state.withLock { state in
                state.current = stream
                return !state.machine.clientGone
            }
        }

        // The machine's events (see RelayStateMachine), each under the lock a client hang-up also takes.
        func start() -> RelayAction { state.withLock { $0.machine.start() } }
        func placed(on node: NodeID) { state.withLock { $0.machine.placed(on: node) } }
        func headReceived() { state.withLock { $0.machine.headReceived() } }
        func refusedToStart(by node: NodeID) -> RelayAction { state.withLock { $0.machine.refusedToStart(by: node) } }
        func noNodeAvailable(_ refusal: AttemptFailure) -> RelayAction { state.withLock { $0.machine.noNodeAvailable(refusal) } }

        func attemptFailed(
            _ failure: AttemptFailure, delivered: StreamMigration.Delivered = .init(), replayKept: Bool = true, now: Double,
            budget: borrowing Mutex<RetryBudget>
        ) -> RelayAction {
            state.withLock { state in
                budget.withLock { budget in
                    state.machine.attemptFailed(
                        failure.cause, failure: failure, delivered: delivered, replayKept: replayKept, now: now, budget: &budget)
                }
            }
        }

        func completed(now: Double, budget: borrowing Mutex<RetryBudget>) {
            state.withLock { state in budget.withLock { state.machine.completed(now: now, budget: &$0) } }
        }
    }

    typealias RelayAction = RelayStateMachine<AttemptFailure>.Action

    /// The request ended without an attempt that serves it: the machine's last action says how.
    struct RelayEnded: Error {
        var action: RelayAction
    }

    /// Performs the machine's placements until an attempt's node sends its head, and returns that attempt. A node
    /// that fails before its head (lost, handed back, timed out, engine error) or will not start the request is
    /// reported to the machine, which places again or ends the request.
    /// - Throws: the client's error (a refusal, the failure of the attempt a retry replaced, 499 when the client
    ///   left) before anything reached it; ``RelayEnded`` for a committed stream that cannot go on.
    /// - Parameter splicer: a committed stream's splicer: what the client has, continued by each new attempt.
    func open(_ first: RelayAction, splicer: inout SSEStreamSplicer?, context: AttemptContext) async throws -> Attempt {
        var action = first
        while true {
            let placement: RelayStateMachine<AttemptFailure>.Placement
            switch action {
            case .place(let next):
                placement = next
            case .respond(let failure):
                // Before anything reached the client: it gets the failure as an error answer.
                if let usage = failure.usage {
                    context.ticket.finish(outcome: .failed, status: failure.error.status.code, usage: usage)
                }
                throw failure.error
            case .stop:
                throw Self.clientClosed
            case .endStream(_, _, let reason):
                context.logger.warning(
                    "giving up on a failed stream", metadata: ["reason": "\(reason.map(\.description) ?? "no node can continue it")"])
                throw RelayEnded(action: action)
            }
            if let cause = placement.replacing { metrics.failover(reason: "\(cause)") }
            let body: ByteBuffer
            switch placement.body {
            case .original:
                body = context.originalBody
            case .continuation(let text, let remaining):
                do {
                    body = ByteBuffer(
                        bytes: try ContinuationBody.rewrite(
                            Array(context.originalBody.readableBytesView), endpoint: context.endpoint, delivered: text,
                            remainingMaxTokens: remaining))
                } catch {
                    context.logger.warning("cannot continue this request on another node", metadata: ["error": "\(error)"])
                    action = context.noNodeAvailable(
                        AttemptFailure(cause: .engineError(status: nil), error: .nodeFailed("\(error)"), usage: nil))
                    continue
                }
                // A new attempt continues the stream: the splicer accounts for it apart from the one that failed.
                if placement.replacing != nil { splicer?.startNextAttempt() }
            }
            do {
                let attempt = try await startAttempt(placement.request, body: body, excluding: placement.excluding, context: context)
                context.headReceived()
                if placement.attempt > 1 {
                    context.logger.notice(
                        "request moved to another node", metadata: ["node": "\(attempt.session.id)", "attempt": "\(placement.attempt)"])
                }
                return attempt
            } catch let refusal as NodeNotAdmitting {
                action = context.refusedToStart(by: refusal.node)
            } catch let failure as AttemptFailure {
                action = context.attemptFailed(
                    failure, delivered: splicer?.delivered ?? .init(), replayKept: !(splicer?.replayLost ?? false), now: scheduler.now,
                    budget: retryBudget)
            } catch let refusal as OpenAIError {
                context.logger.debug("no node for the request", metadata: ["reason": "\(refusal.message)"])
                action = context.noNodeAvailable(AttemptFailure(cause: .engineError(status: nil), error: refusal, usage: nil))
            }
        }
    }

    /// ``open(_:splicer:context:)`` before anything reached the client (nothing to splice).
    func open(_ first: RelayAction, context: AttemptContext) async throws -> Attempt {
        var noSplicer: SSEStreamSplicer?
        return try await open(first, splicer: &noSplicer, context: context)
    }

    /// Places `request` (never on `excluding`), opens the stream and waits for the node's head. A `hedge` is placed
    /// only on a node that takes it at once, and is not an attempt of the request until it wins its race (the
    /// migration, the usage ticket and the client's hang-up follow the attempt that serves).
    func startAttempt(
        _ request: SchedulingRequest, body: ByteBuffer, excluding: Set<NodeID>, context: AttemptContext, hedge: Bool = false
    ) async throws -> Attempt {
        let (reservation, reason, predictedTTFT, bestEffort) = try await place(
            request, security: context.security, excluding: excluding, mayQueue: !hedge)
        let session = reservation.session
        if !hedge {
            context.placed(on: session.id)
            context.ticket.assign(session)
        }
        let stream: GatewayStream
        let opened = ContinuousClock.now
        do {
            stream = try session.open(header(for: session, context: context), body: body)
        } catch {
            reservation.release(end: nil)
            throw AttemptFailure(cause: .tunnelClosed, error: Self.mapNodeFailure(error, node: session.id), usage: nil)
        }
        guard hedge || context.track(stream) else {
            session.cancel(stream)
            reservation.release(end: nil)
            throw Self.clientClosed
        }
        let timeout = configuration.firstByteTimeout
        let deadline = session.channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanosecondsClamped)) {
            stream.fail(FirstByteTimeout(after: timeout))
        }
        do {
            let head = try await withTaskCancellationHandler {
                try await stream.head()
            } onCancel: {
                stream.fail(CancellationError())
            }
            if !hedge { context.waitedOnNode(.now - opened) }
            return Attempt(
                reservation: reservation, stream: stream, deadline: deadline, head: head, reason: reason, predictedTTFT: predictedTTFT,
                bestEffort: bestEffort)
        } catch {
            deadline.cancel()
            session.cancel(stream)
            reservation.release(end: nil)
            if error is ClientGone || error is CancellationError || context.clientGone { throw Self.clientClosed }
            if let refusal = error as? TunnelErrorMessage, refusal.code == .notAdmitting {
                // The scheduler's view was a heartbeat old: the node did no work, so this costs no retry.
                scheduler.setAdmitting(session.id, false)
                throw NodeNotAdmitting(node: session.id)
            }
            throw AttemptFailure(cause: Self.cause(of: error), error: Self.mapNodeFailure(error, node: session.id), usage: nil)
        }
    }

    /// The stream header for one attempt: the cache control depends on the chosen node's engine (a salt for engines
    /// that take one, else no prompt-cache reuse for isolated classes), so it is set per attempt.
    func header(for session: NodeSession, context: AttemptContext) -> StreamOpen {
        var header = context.header
        let control = CacheIsolation.cacheControl(
            engineSupportsSalt: configuration.engineHonoursCacheSalt(session.hello), dataClass: context.security.dataClass,
            salt: context.cacheSalt, standardMayShareOnSaltlessEngines: configuration.standardMayShareOnSaltlessEngines)
        switch control {
        case .salt(let salt):
            header.cacheControl = CacheControlMode.salt.rawValue
            header.cacheSalt = salt
        case .disablePromptCache:
            header.cacheControl = CacheControlMode.disablePromptCache.rawValue
        case .engineDefault:
            header.cacheControl = CacheControlMode.engineDefault.rawValue
        }
        return header
    }

    /// A node refused to start the request because it is not admitting (power): place it elsewhere, free.
    struct NodeNotAdmitting: Error {
        var node: NodeID
    }

    /// What a failed attempt means for migration.
    static func cause(of error: any Error) -> StreamMigration.FailureCause {
        switch error {
        case is NodeLostError: return .tunnelClosed
        case is FirstByteTimeout, is StreamStalled: return .stalled
        case is ClientGone, is CancellationError: return .clientGone
        case let message as TunnelErrorMessage:
            switch message.code {
            case .handedBack, .notAdmitting: return .handedBack
            default: return .engineError(status: nil)
            }
        default: return .engineError(status: nil)
        }
    }

    static let clientClosed = OpenAIError(
        status: .init(code: 499), message: "The client closed the request.", type: "api_error", code: "client_closed")

    static func mapNodeFailure(_ error: any Error, node: NodeID) -> OpenAIError {
        switch error {
        case let timeout as FirstByteTimeout:
            return .nodeTimeout("Node \(node) produced no answer within \(timeout.after).")
        case let stall as StreamStalled:
            return .nodeTimeout("Node \(node) sent nothing for \(stall.after) mid-answer.")
        case let lost as NodeLostError:
            return .nodeFailed("Node \(node) was lost mid-request: \(lost.reason).")
        case let message as TunnelErrorMessage:
            return .nodeFailed("Node \(node) failed: \(message.message)")
        case is CancellationError, is ClientGone:
            return OpenAIError(
                status: .init(code: 499), message: "The client closed the request.", type: "api_error", code: "client_closed")
        default:
            return .nodeFailed("Node \(node) failed: \(error)")
        }
    }
}
