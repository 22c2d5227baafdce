import Foundation
import HTTPTypes
import HearthCore
import HearthProtocol
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Serves one OpenAI completion request: authenticate, validate, route, relay over the node's
/// tunnel, and record usage exactly once whatever happens.
final class InferenceRelay: Sendable {
    let registry: NodeRegistry
    let scheduler: FleetScheduler
    private let classifier = TaskClassifier()
    private let authenticator: APIKeyAuthenticator
    private let ledger: UsageLedger
    let metrics: GatewayMetrics
    let configuration: GatewayConfiguration
    let logger: Logger
    private let disconnects = ClientDisconnectWatcher()
    /// Retries and failovers spend from this, so that an outage never multiplies the load.
    let retryBudget: Mutex<RetryBudget>
    /// Per-tenant requests and tokens per minute, and requests in flight.
    private let limiter: TenantLimiter
    /// Prefix-cache partitions: the engine salt and the salted routing key of every request.
    private let isolation: CacheIsolation

    init(
        registry: NodeRegistry,
        scheduler: FleetScheduler,
        authenticator: APIKeyAuthenticator,
        ledger: UsageLedger,
        metrics: GatewayMetrics,
        configuration: GatewayConfiguration,
        logger: Logger
    ) {
        self.registry = registry
        self.scheduler = scheduler
        self.authenticator = authenticator
        self.ledger = ledger
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
        self.retryBudget = Mutex(RetryBudget(configuration: configuration.retryBudget))
        self.limiter = TenantLimiter(clock: configuration.tenantClock)
        self.isolation = CacheIsolation(secret: configuration.cacheSecret)
    }

    func handle(_ request: Request, endpoint: CompletionRequest.Endpoint, clientChannel: any Channel) async throws -> Response {
        let started = ContinuousClock.now
        let policy = try await authenticator.policy(authorization: request.headers[.authorization])
        let ticket = UsageTicket(
            requestID: "hearth-" + UUID().uuidString.lowercased(),
            tenant: policy.tenant,
            started: started,
            ledger: ledger,
            metrics: metrics,
            conduct: registry.conduct
        )
        do {
            return try await relay(request, endpoint: endpoint, policy: policy, ticket: ticket, clientChannel: clientChannel)
        } catch var error as OpenAIError {
            ticket.finish(outcome: error.status.code == 502 || error.status.code == 504 ? .failed : .refused, status: error.status.code)
            error.requestID = ticket.requestID
            throw error
        } catch {
            ticket.finish(outcome: .failed, status: 500)
            throw error
        }
    }

    private func relay(
        _ request: Request,
        endpoint: CompletionRequest.Endpoint,
        policy: TenantPolicy,
        ticket: UsageTicket,
        clientChannel: any Channel
    ) async throws -> Response {
        // The tenant's concurrency and request rate before anything of the request is read: a tenant at its
        // limits costs no body, no parse. Released on every path that ends the request.
        let lease = try limiter.admitRequest(policy)
        ticket.onFinish { [limiter] usage, ranOnNode in
            limiter.finish(lease, actualTokens: usage.map { $0.promptTokens + $0.completionTokens } ?? (ranOnNode ? nil : 0))
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: configuration.maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            throw OpenAIError.bodyTooLarge(limit: configuration.maximumBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw OpenAIError.bodyTooLarge(limit: configuration.maximumBodyBytes)
        }
        let parsed = try CompletionRequestParser.parse(
            Data(buffer: body, byteTransferStrategy: .noCopy),
            endpoint: endpoint,
            taskHeader: request.headers[.hearthTask]
        )
        // Engines get the allow-listed body (docs/SECURITY.md, Client input); most requests keep the client's bytes.
        let engineBody = parsed.engineBody.map { ByteBuffer(bytes: $0) } ?? body
        let taskClass = try classify(parsed)
        ticket.describe(
            model: parsed.model, taskClass: taskClass.rawValue, estimatedPromptTokens: parsed.estimatedPromptTokens,
            requestBytes: body.readableBytes, maxOutputTokens: parsed.maxTokens)

        // The tenant's tokens: reserved now (prompt estimate + max_tokens), corrected to the bill when the request ends.
        let maxOutputTokens = parsed.maxTokens ?? classifier.defaultMaxOutputTokens
        try limiter.reserve(lease, tokens: parsed.estimatedPromptTokens + maxOutputTokens, policy: policy)

        // The cache partition: its salt goes to the engine, its key into every routing hash (docs/SECURITY.md).
        let partition = CacheIsolation.partition(
            tenant: policy.tenant, dataClass: policy.dataClass, session: parsed.conversationKey.map { String($0, radix: 16) },
            requestID: ticket.requestID)
        let scheduling = CacheIsolation.isolate(
            SchedulingRequest(
                model: parsed.model,
                taskClass: taskClass,
                promptTokens: parsed.estimatedPromptTokens,
                maxOutputTokens: maxOutputTokens,
                prefixHashes: parsed.prefixHashes,
                prefixBlockTokens: CompletionRequestParser.prefixBlockTokens,
                sessionKey: parsed.conversationKey,
                arrival: scheduler.now,
                sloPolicy: try Self.sloPolicy(
                    header: request.headers[.hearthSLOPolicy],
                    default: parsed.declaredSLOPolicy ?? policy.sloPolicy ?? configuration.defaultSLOPolicy)
            ),
            partitionKey: isolation.partitionKey(for: partition))
        let security = RequestSecurity(
            tenant: policy.tenant, dataClass: policy.dataClass, cleanWindowSeconds: configuration.sensitiveCleanWindowSeconds)
        let header = StreamOpen(
            path: endpoint.rawValue,
            stream: parsed.stream,
            clientWantsUsageChunk: parsed.includeUsage,
            requestID: ticket.requestID
        )
        let context = AttemptContext(
            header: header, originalBody: engineBody, endpoint: endpoint == .chatCompletions ? .chatCompletions : .completions,
            interTokenStall: .nanoseconds(Int64(configuration.stallLimits.interToken(taskClass) * 1e9)), request: scheduling,
            promptTokens: parsed.estimatedPromptTokens, ticket: ticket, security: security, cacheSalt: isolation.salt(for: partition),
            migration: StreamMigration(original: scheduling, security: security, limits: configuration.migrationLimits))
        // A client that closes its connection stops the work at once, even before any byte was
        // written to it (a long prefill) or between tokens, whichever node runs it by then.
        let watch = disconnects.watch(clientChannel) { context.clientLeft() }

        // The first attempt, retried on other nodes while nothing has reached the client.
        let first: Attempt
        do {
            first = try await firstAttempt(scheduling, body: engineBody, context: context)
        } catch {
            disconnects.unwatch(watch)
            throw error
        }
        var headers: HTTPFields = [
            .contentType: first.head.contentType,
            .hearthNode: first.session.id.rawValue,
            .hearthClass: taskClass.rawValue,
            .hearthDecision: first.reason,
            .hearthSLO: first.bestEffort ? SLOPolicy.bestEffort.rawValue : "target",
            .hearthRequestID: ticket.requestID,
        ]
        if first.bestEffort { metrics.bestEffort(taskClass: taskClass.rawValue) }
        ticket.placed(bestEffort: first.bestEffort)
        if parsed.stream {
            headers[.cacheControl] = "no-cache"
            // The body closure runs after this function returns: it owns the attempts until the stream ends.
            first.reservation.handOff()
            // A hedge race ends before the head goes out, so that the headers name the node that serves.
            var served = first
            var prefetched: Result<StreamEvent?, any Error>?
            if let hedged = await hedgeFirstToken(first, context: context) {
                served = hedged.attempt
                prefetched = hedged.first
                headers[.hearthNode] = served.session.id.rawValue
                headers[.hearthDecision] = served.reason
            }
            return Response(
                status: .init(code: served.head.status),
                headers: headers,
                body: ResponseBody { [self, disconnects, served, prefetched] writer in
                    defer { disconnects.unwatch(watch) }
                    try await relayStream(served, prefetched: prefetched, context: context, to: &writer)
                }
            )
        }
        defer { disconnects.unwatch(watch) }
        let (answer, status, node) = try await relayAnswer(first, context: context)
        headers[.hearthNode] = node.rawValue
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: answer))
    }

    // MARK: attempts

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
        private let state: Mutex<(migration: StreamMigration, current: GatewayStream?, gone: Bool)>

        init(
            header: StreamOpen, originalBody: ByteBuffer, endpoint: SSEStreamSplicer.Endpoint, interTokenStall: Duration,
            request: SchedulingRequest, promptTokens: Int, ticket: UsageTicket, security: RequestSecurity, cacheSalt: String,
            migration: StreamMigration
        ) {
            self.interTokenStall = interTokenStall
            self.request = request
            self.security = security
            self.cacheSalt = cacheSalt
            self.header = header
            self.originalBody = originalBody
            self.endpoint = endpoint
            self.promptTokens = promptTokens
            self.ticket = ticket
            state = Mutex((migration, nil, false))
        }

        var clientGone: Bool { state.withLock { $0.gone } }
        var attempts: Int { state.withLock { $0.migration.attempts } }

        func clientLeft() {
            let current = state.withLock { state in
                state.gone = true
                return state.current
            }
            current?.fail(ClientGone())
        }

        /// Makes `stream` the one a client hang-up stops; false when the client already left.
        func track(_ stream: GatewayStream?) -> Bool {
            state.withLock { state in
                state.current = stream
                return !state.gone
            }
        }

        func placed(on node: NodeID) { state.withLock { $0.migration.placed(on: node) } }

        func attemptFailed(
            _ cause: StreamMigration.FailureCause, delivered: StreamMigration.Delivered, now: Double, budget: borrowing Mutex<RetryBudget>
        )
            -> StreamMigration.Decision
        {
            state.withLock { state in
                budget.withLock { budget in state.migration.attemptFailed(cause, delivered: delivered, now: now, budget: &budget) }
            }
        }
    }

    /// Places and opens the first attempt; while nothing has reached the client, a node that fails before its
    /// head (lost, handed back, timed out, engine error) is retried on another node within the migration limits.
    /// `after`: the failure this attempt replaces; when no node can take it, the client hears that failure.
    private func firstAttempt(
        _ request: SchedulingRequest, body: ByteBuffer, excluding: Set<NodeID> = [], after previous: AttemptFailure? = nil,
        context: AttemptContext
    ) async throws -> Attempt {
        var request = request
        var excluded = excluding
        var lastFailure = previous
        while true {
            do {
                return try await startAdmittedAttempt(request, body: body, excluding: excluded, context: context)
            } catch let failure as AttemptFailure {
                switch context.attemptFailed(failure.cause, delivered: StreamMigration.Delivered(), now: scheduler.now, budget: retryBudget)
                {
                case .resume(let plan):
                    metrics.failover(reason: "\(failure.cause)")
                    request = plan.request
                    excluded = plan.security.excludedNodes
                    lastFailure = failure
                case .giveUp:
                    throw failure.error
                }
            } catch let refusal as OpenAIError where lastFailure != nil {
                // No other node can take the retry now: the client hears what went wrong with the first.
                logger.debug("no node for a retry", metadata: ["reason": "\(refusal.message)"])
                throw lastFailure!.error
            }
        }
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

    /// ``startAttempt(_:body:excluding:context:)``, passing over nodes that refuse to start it.
    private func startAdmittedAttempt(
        _ request: SchedulingRequest, body: ByteBuffer, excluding: Set<NodeID>, context: AttemptContext
    ) async throws -> Attempt {
        var excluded = excluding
        while true {
            do {
                return try await startAttempt(request, body: body, excluding: excluded, context: context)
            } catch let refusal as NodeNotAdmitting {
                excluded.insert(refusal.node)
            }
        }
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

    // MARK: non-streamed answers

    /// Buffers a non-streamed answer; a node that fails before its end is replaced (nothing reached the client yet).
    private func relayAnswer(_ first: Attempt, context: AttemptContext) async throws -> (ByteBuffer, Int, NodeID) {
        var attempt = first
        while true {
            do {
                let (answer, end) = try await collect(attempt, context: context)
                if attempt.head.status < 300, let failure = end?.error {
                    throw AttemptFailure(
                        cause: Self.cause(of: failure), error: .nodeFailed("Node \(attempt.session.id) failed: \(failure.message)"),
                        usage: end?.usage)
                }
                if context.attempts > 1 {
                    context.ticket.failedOver(
                        to: attempt.session.id, attempts: context.attempts, computedPromptTokens: end?.usage?.promptTokens ?? 0,
                        computedCompletionTokens: end?.usage?.completionTokens ?? 0)
                }
                context.ticket.finish(
                    outcome: attempt.head.status < 300 ? .completed : .failed, status: attempt.head.status, usage: end?.usage)
                retryBudget.withLock { $0.recordSuccess(now: scheduler.now) }
                return (answer, attempt.head.status, attempt.session.id)
            } catch let failure as AttemptFailure {
                if context.clientGone { throw Self.clientClosed }
                switch context.attemptFailed(failure.cause, delivered: StreamMigration.Delivered(), now: scheduler.now, budget: retryBudget)
                {
                case .resume(let plan):
                    metrics.failover(reason: "\(failure.cause)")
                    attempt = try await firstAttempt(
                        plan.request, body: context.originalBody, excluding: plan.security.excludedNodes, after: failure, context: context)
                case .giveUp:
                    context.ticket.finish(outcome: .failed, status: failure.error.status.code, usage: failure.usage)
                    throw failure.error
                }
            }
        }
    }

    private func collect(_ attempt: Attempt, context: AttemptContext) async throws -> (ByteBuffer, StreamEnd?) {
        let session = attempt.session
        var answer = ByteBuffer()
        var end: StreamEnd?
        do {
            for try await event in attempt.stream.body {
                attempt.deadline.cancel()
                switch event {
                case .data(let bytes):
                    context.ticket.firstByte()
                    guard answer.readableBytes + bytes.readableBytes <= configuration.maximumAnswerBytes else {
                        throw TunnelErrorMessage(
                            code: .flowControl,
                            message: "answer exceeds the \(configuration.maximumAnswerBytes)-byte limit for non-streamed requests"
                        )
                    }
                    session.consumed(bytes.readableBytes, on: attempt.stream)
                    var bytes = bytes
                    answer.writeBuffer(&bytes)
                case .end(let last):
                    end = last
                }
            }
        } catch let error as TunnelErrorMessage where error.code == .flowControl {
            attempt.deadline.cancel()
            session.cancel(attempt.stream)
            attempt.reservation.release(end: nil)
            context.ticket.finish(outcome: .failed, status: 502)
            throw Self.mapNodeFailure(error, node: session.id)
        } catch {
            attempt.deadline.cancel()
            session.cancel(attempt.stream)
            attempt.reservation.release(end: nil)
            if error is ClientGone || error is CancellationError || context.clientGone {
                context.ticket.finish(outcome: .cancelled, status: 499)
                throw Self.clientClosed
            }
            throw AttemptFailure(cause: Self.cause(of: error), error: Self.mapNodeFailure(error, node: session.id), usage: nil)
        }
        session.finish(attempt.stream)
        attempt.reservation.release(end: end)
        // An answer with text holds at least one token: the floor of its bill.
        let hasText = answer.withUnsafeReadableBytes {
            SSEEventScanner.hasText($0, field: context.endpoint == .chatCompletions ? .content : .text)
        }
        context.ticket.relayed(AnswerAudit.Relayed(contentEvents: hasText ? 1 : 0))
        return (answer, end)
    }

    /// Asks the scheduler for a node; holds the request while the scheduler says it can still meet its
    /// target later (`queue`), and maps a refusal to 404, 429 or 503.
    /// `mayQueue` false: only a node that takes it now (a hedge never waits).
    func place(
        _ request: SchedulingRequest, security: RequestSecurity, excluding: Set<NodeID>, mayQueue: Bool = true
    ) async throws -> (Reservation, String, predictedTTFT: Double, bestEffort: Bool) {
        let taskClass = request.taskClass
        if registry.nodeIDs.isEmpty {
            throw OpenAIError.noCapacity("No node is connected to this gateway.", retryAfterSeconds: 5, overloaded: false)
        }
        if !registry.servedModels().contains(where: { $0.id == request.model }) {
            // Not served by an admitting node: unknown to the fleet (404), or all its nodes are draining (503).
            throw !registry.serves(request.model)
                ? OpenAIError.modelNotFound(request.model)
                : OpenAIError.noCapacity("Every node serving \(request.model) is draining.", retryAfterSeconds: 5, overloaded: false)
        }
        // A retry may wait for a slot until this point (see GatewayConfiguration.retryQueueSeconds).
        let retryDeadline = excluding.isEmpty ? -Double.infinity : scheduler.now + configuration.retryQueueSeconds
        while true {
            let capacity = registry.capacityChanges()
            let (decision, claim) = scheduler.decide(request, security: security, excluding: excluding)
            metrics.decision(policy: scheduler.policy.rawValue, outcome: decision.outcomeLabel)
            switch decision {
            case .place(let placement):
                guard let session = registry.acquire(placement.node) else {
                    scheduler.finished(
                        placement.node, promptTokens: request.promptTokens, model: request.model, observed: nil, claim: claim)
                    continue  // it left between the decision and now: decide again
                }
                let reservation = Reservation(
                    session: session,
                    model: request.model,
                    promptTokens: request.promptTokens,
                    batch: scheduler.runningSequences(on: placement.node),
                    registry: registry,
                    scheduler: scheduler,
                    claim: claim
                )
                return (
                    reservation, Self.headerSafe(placement.reason.description), placement.prediction.ttftSeconds,
                    placement.reason.isBestEffort
                )
            case .queue(let until, let reason):
                // Wait for a node to free capacity (or join), but never past the point where the target is lost;
                // a retry waits up to its own deadline (its work is already owed; it adds no load while waiting).
                let wait = max(until, retryDeadline) - scheduler.now
                if mayQueue, wait > 0 {
                    if await capacity.wait(seconds: Self.finiteSeconds(wait)) { continue }
                    // A best-effort request whose target was lost while it waited is decided again: it is placed best
                    // effort where a slot is free, or waits for one within its bounded queue, rather than refused
                    // for a target it has already given up on.
                    if request.sloPolicy == .bestEffort, case .waitingForCapacity = reason { continue }
                }
                if case .noEligibleNode = reason {
                    // Held back by batch isolation: never say whose work holds the nodes.
                    throw OpenAIError.noCapacity(
                        "Every node that can serve this \(security.dataClass.rawValue) request is running another tenant's isolated work.",
                        retryAfterSeconds: 1, overloaded: true)
                }
                throw OpenAIError.noCapacity(
                    "No node can meet the \(taskClass.rawValue) target now: \(reason.description)",
                    retryAfterSeconds: 1,
                    overloaded: true
                )
            case .refuse(let retryAfter, let reason):
                if case .noNodeServesModel = reason { throw OpenAIError.modelNotFound(request.model) }
                if case .noEligibleNode = reason, retryAfter == nil,
                    !scheduler.hasNode(
                        for: security.dataClass, model: request.model, cleanWindowSeconds: security.cleanWindowSeconds)
                {
                    // No connected node meets the data class at all (tamper window, attestation, trust): say so.
                    throw OpenAIError.dataClassUnavailable(security.dataClass)
                }
                throw OpenAIError.noCapacity(
                    "No node can take this \(taskClass.rawValue) request: \(reason.description)",
                    retryAfterSeconds: retryAfter.map { max(1, Int(Self.finiteSeconds($0).rounded(.up))) } ?? 5,
                    overloaded: retryAfter != nil
                )
            }
        }
    }

    /// The client's `X-Hearth-SLO-Policy` (`strict` or `best-effort`), or else `fallback`: the request's
    /// `metadata.slo_policy`, the tenant's policy, the gateway's default, in that order.
    static func sloPolicy(header: String?, default fallback: SLOPolicy) throws -> SLOPolicy {
        guard let header else { return fallback }
        guard let policy = SLOPolicy(rawValue: header.lowercased()) else {
            throw OpenAIError.invalidRequest(
                "X-Hearth-SLO-Policy must be one of \(SLOPolicy.names).",
                param: "X-Hearth-SLO-Policy", code: "invalid_value")
        }
        return policy
    }

    /// Seconds from a prediction (built on node-declared profiles: never trusted to be finite or sane) within
    /// 0...3600, so that no conversion to an integer can trap.
    static func finiteSeconds(_ seconds: Double) -> Double { seconds.isNaN ? 0 : min(max(seconds, 0), 3600) }

    /// Header values must be visible ASCII.
    static func headerSafe(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
    }

    // MARK: streamed answers

    /// Relays a streamed answer. While the first node runs, its events pass through untouched (only whole
    /// events: a partial one waits for its blank line, so a node that dies mid-event never tears the client's
    /// stream). When a node fails mid-answer, the request resumes on another node with the text delivered so
    /// far as the new prefix, and ``SSEStreamSplicer`` joins the attempts into one well-formed stream.
    /// `prefetched`: the first event, when a hedge race already read it.
    private func relayStream(
        _ first: Attempt, prefetched: Result<StreamEvent?, any Error>?, context: AttemptContext, to writer: inout any ResponseBodyWriter
    ) async throws {
        var attempt = first
        var prefetched = prefetched
        var splicer: SSEStreamSplicer?
        var delivered = ReplayBuffer(limit: configuration.maximumReplayBytes)
        while true {
            // The gateway's own timing of this attempt: its profile is refitted from it, not from the node's claims.
            var observed = ObservedAnswer(firstByteAt: nil, contentEvents: nil)
            let outcome = await pump(
                attempt, prefetched: prefetched, splicer: &splicer, delivered: &delivered, observed: &observed, context: context,
                to: &writer)
            prefetched = nil
            switch outcome {
            case .completed(let end):
                attempt.session.finish(attempt.stream)
                attempt.reservation.release(end: end, afterHandOff: true, observed: observed)
                retryBudget.withLock { $0.recordSuccess(now: scheduler.now) }
                var usage = end?.usage
                if splicer == nil, context.attempts > 1 {
                    // Retried on another node before the first byte: nothing to splice, but it moved.
                    context.ticket.failedOver(
                        to: attempt.session.id, attempts: context.attempts, computedPromptTokens: usage?.promptTokens ?? 0,
                        computedCompletionTokens: usage?.completionTokens ?? 0)
                }
                if var spliced = splicer {
                    try? await writer.write(ByteBuffer(bytes: spliced.finish()))
                    let counts = spliced.usage
                    usage = TokenUsage(
                        promptTokens: counts.clientPromptTokens, completionTokens: counts.clientCompletionTokens, reportedByEngine: false)
                    context.ticket.failedOver(
                        to: attempt.session.id, attempts: context.attempts,
                        computedPromptTokens: counts.computedPromptTokens, computedCompletionTokens: counts.computedCompletionTokens)
                }
                context.ticket.finish(outcome: attempt.head.status < 300 ? .completed : .failed, status: attempt.head.status, usage: usage)
                try? await writer.finish(nil)
                return
            case .clientGone(let end):
                attempt.session.cancel(attempt.stream)
                attempt.reservation.release(end: end, afterHandOff: true, observed: observed)
                context.ticket.finish(outcome: .cancelled, status: 499, usage: end?.usage)
                return
            case .failed(let failure):
                attempt.session.cancel(attempt.stream)
                attempt.reservation.release(end: nil, afterHandOff: true)
                if splicer == nil {
                    // What the client has seen so far, read once now rather than on every event.
                    var replay = SSEStreamSplicer(
                        endpoint: context.endpoint, originalPromptTokens: context.promptTokens,
                        maximumReplayBytes: configuration.maximumReplayBytes)
                    _ = replay.ingest(delivered.bytes)
                    splicer = replay
                    if delivered.overflowed { splicer!.loseReplay() }
                    delivered = ReplayBuffer(limit: 0)
                }
                // Too long an answer to hand another node as a prefix (its text was not all kept): it ends here.
                let canResume = !splicer!.replayLost
                guard canResume, let next = await resume(after: failure, splicer: &splicer!, context: context) else {
                    if splicer!.delivered.finished {
                        // The answer was complete; only the end of the stream was lost.
                        try? await writer.write(ByteBuffer(bytes: splicer!.finish()))
                        context.ticket.finish(outcome: .completed, status: attempt.head.status, usage: failure.usage)
                    } else {
                        try? await writer.write(
                            ByteBuffer(bytes: Array("data: ".utf8) + Array(failure.error.jsonBody) + Array("\n\ndata: [DONE]\n\n".utf8)))
                        context.ticket.finish(outcome: .failed, status: failure.error.status.code, usage: failure.usage)
                    }
                    try? await writer.finish(nil)
                    return
                }
                attempt = next
            }
        }
    }

    enum PumpOutcome {
        case completed(StreamEnd?)
        case failed(AttemptFailure)
        case clientGone(StreamEnd?)
    }

    /// Forwards one attempt's events until it ends, fails or the client leaves.
    private func pump(
        _ attempt: Attempt, prefetched: Result<StreamEvent?, any Error>?, splicer: inout SSEStreamSplicer?,
        delivered: inout ReplayBuffer, observed: inout ObservedAnswer, context: AttemptContext, to writer: inout any ResponseBodyWriter
    ) async -> PumpOutcome {
        var pending = ByteBuffer()
        var scanner = SSEEventScanner(
            field: context.endpoint == .chatCompletions ? .content : .text, maximumEventBytes: configuration.maximumEventBytes)
        // What the client got from this attempt is the floor of what its tenant is billed, and times the node.
        defer {
            if splicer == nil {
                context.ticket.relayed(AnswerAudit.Relayed(contentEvents: scanner.contentEvents))
                observed.contentEvents = scanner.contentEvents
            }
        }
        var end: StreamEnd?
        // Re-armed after every event: a node that stops sending mid-answer (a hung engine, a link that holds bytes
        // without closing) is treated like a lost one once the class's gap is exceeded.
        let stream = attempt.stream
        let limit = context.interTokenStall
        let eventLoop = attempt.session.channel.eventLoop
        var stallTimer: Scheduled<Void>?
        defer { stallTimer?.cancel() }
        do {
            // The event a hedge race already read (nil: the stream ended there), then the rest of the stream.
            var prefetchedEvent: StreamEvent?
            var endedEarly = false
            if let prefetched {
                prefetchedEvent = try prefetched.get()
                endedEarly = prefetchedEvent == nil
            }
            var events = attempt.stream.body.makeAsyncIterator()
            while !endedEarly, let event = try await Self.next(&prefetchedEvent, from: &events) {
                attempt.deadline.cancel()
                stallTimer?.cancel()
                switch event {
                case .data(let bytes):
                    context.ticket.firstByte()
                    let count = bytes.readableBytes
                    let out: ByteBuffer
                    if splicer != nil {
                        out = ByteBuffer(bytes: splicer!.ingest(bytes.readableBytesView))
                        guard splicer!.pendingBytes <= configuration.maximumEventBytes else { throw oversizedEvent(attempt) }
                    } else {
                        var bytes = bytes
                        pending.writeBuffer(&bytes)
                        guard let whole = pending.withUnsafeReadableBytes({ scanner.wholeEvents(in: $0) }) else {
                            throw oversizedEvent(attempt)
                        }
                        out = pending.readSlice(length: whole) ?? ByteBuffer()
                        delivered.append(out)
                        pending.discardReadBytes()
                    }
                    // The first token, as the gateway sees it (not the node's first byte: a role chunk is no token).
                    if observed.firstByteAt == nil, splicer != nil || scanner.contentEvents > 0 { observed.firstByteAt = .now }
                    if out.readableBytes > 0 {
                        do { try await writer.write(out) } catch { return .clientGone(nil) }
                    }
                    attempt.session.consumed(count, on: attempt.stream)
                case .end(let last):
                    end = last
                }
                // Armed only while waiting on the node, not while a slow client drains what it sent.
                stallTimer = eventLoop.scheduleTask(in: .nanoseconds(limit.nanosecondsClamped)) {
                    stream.fail(StreamStalled(after: limit))
                }
            }
        } catch {
            attempt.deadline.cancel()
            if error is ClientGone || error is CancellationError || context.clientGone || Task.isCancelled { return .clientGone(end) }
            return .failed(
                AttemptFailure(cause: Self.cause(of: error), error: Self.mapNodeFailure(error, node: attempt.session.id), usage: nil))
        }
        attempt.deadline.cancel()
        if Task.isCancelled || context.clientGone { return .clientGone(end) }
        guard let end else {
            return .failed(
                AttemptFailure(cause: .tunnelClosed, error: .nodeFailed("Node \(attempt.session.id) ended the stream early."), usage: nil))
        }
        if let failure = end.error, attempt.head.status < 300 {
            return .failed(
                AttemptFailure(
                    cause: Self.cause(of: failure), error: .nodeFailed("Node \(attempt.session.id) failed mid-stream: \(failure.message)"),
                    usage: end.usage))
        }
        if pending.readableBytes > 0 {
            // A well-formed stream ends at an event boundary; pass on whatever the engine sent last.
            if splicer != nil {
                let out = splicer!.ingest(Array(pending.readableBytesView) + Array("\n\n".utf8))
                try? await writer.write(ByteBuffer(bytes: out))
            } else {
                try? await writer.write(pending)
            }
        }
        return .completed(end)
    }

    /// `prefetched` once, then the stream's own events.
    private static func next(
        _ prefetched: inout StreamEvent?, from events: inout AsyncThrowingStream<StreamEvent, any Error>.Iterator
    ) async throws -> StreamEvent? {
        if let event = prefetched {
            prefetched = nil
            return event
        }
        return try await events.next()
    }

    /// A node streamed an event longer than the gateway holds: the stream fails (and moves), the node is told off.
    private func oversizedEvent(_ attempt: Attempt) -> TunnelErrorMessage {
        registry.conduct?.lied(attempt.session.id, .oversizedEvent, detail: "over \(configuration.maximumEventBytes) bytes")
        return TunnelErrorMessage(
            code: .flowControl, message: "an event longer than \(configuration.maximumEventBytes) bytes without a boundary")
    }

    /// After a mid-stream failure: the next attempt on another node, or nil to give up.
    private func resume(after failure: AttemptFailure, splicer: inout SSEStreamSplicer, context: AttemptContext) async -> Attempt? {
        var failure = failure
        while !context.clientGone {
            let decision = context.attemptFailed(failure.cause, delivered: splicer.delivered, now: scheduler.now, budget: retryBudget)
            guard case .resume(let plan) = decision else {
                logger.warning(
                    "giving up on a failed stream", metadata: ["request": "\(context.ticket.requestID)", "decision": "\(decision)"])
                return nil
            }
            metrics.failover(reason: "\(failure.cause)")
            let body: ByteBuffer
            do {
                body = ByteBuffer(
                    bytes: try ContinuationBody.rewrite(
                        Array(context.originalBody.readableBytesView), endpoint: context.endpoint, delivered: plan.continuation,
                        remainingMaxTokens: plan.remainingMaxTokens))
            } catch {
                logger.warning("cannot continue this request on another node", metadata: ["error": "\(error)"])
                return nil
            }
            splicer.startNextAttempt()
            do {
                let attempt = try await startAdmittedAttempt(
                    plan.request, body: body, excluding: plan.security.excludedNodes, context: context)
                attempt.reservation.handOff()
                logger.notice(
                    "stream failed over",
                    metadata: ["request": "\(context.ticket.requestID)", "to": "\(attempt.session.id)", "attempt": "\(plan.attempt)"])
                return attempt
            } catch let next as AttemptFailure {
                failure = next
            } catch {
                logger.warning("no node to resume the stream on", metadata: ["error": "\(error)"])
                return nil
            }
        }
        return nil
    }

    private static func mapNodeFailure(_ error: any Error, node: NodeID) -> OpenAIError {
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

    /// The declared class if valid (an invalid one is a 400), otherwise inferred from the request's shape.
    func classify(_ request: CompletionRequest) throws -> TaskClass {
        if let declared = request.declaredTask, TaskClass(rawValue: declared.lowercased()) == nil {
            throw OpenAIError.invalidRequest(
                "Unknown task class '\(declared)'; use one of \(TaskClass.allCases.map(\.rawValue).joined(separator: ", ")).",
                param: "metadata.task",
                code: "invalid_value"
            )
        }
        return classifier.classify(
            declared: request.declaredTask,
            promptTokens: request.estimatedPromptTokens,
            maxOutputTokens: request.maxTokens,
            turns: request.turns
        )
    }
}

/// The client closed its connection before the answer was complete.
struct ClientGone: Error {}

struct FirstByteTimeout: Error {
    var after: Duration
}

/// A node sent nothing for longer than its request class allows between tokens.
struct StreamStalled: Error {
    var after: Duration
}

extension HTTPField.Name {
    static let hearthTask = HTTPField.Name("X-Hearth-Task")!
    static let hearthNode = HTTPField.Name("X-Hearth-Node")!
    static let hearthClass = HTTPField.Name("X-Hearth-Class")!
    static let hearthDecision = HTTPField.Name("X-Hearth-Decision")!
    static let hearthRequestID = HTTPField.Name("X-Request-Id")!
    /// `best-effort` when the request was served knowing its class target would be missed, else `target`.
    static let hearthSLO = HTTPField.Name("X-Hearth-SLO")!
    /// `strict` or `best-effort`: what the client wants when its target cannot be met.
    static let hearthSLOPolicy = HTTPField.Name("X-Hearth-SLO-Policy")!
}
