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
    let classifier = TaskClassifier()
    private let authenticator: APIKeyAuthenticator
    let ledger: UsageLedger
    let metrics: GatewayMetrics
    let configuration: GatewayConfiguration
    let logger: Logger
    let disconnects = ClientDisconnectWatcher()
    /// Retries and failovers spend from this, so that an outage never multiplies the load.
    let retryBudget: Mutex<RetryBudget>
    /// Per-tenant requests and tokens per minute, and requests in flight.
    let limiter: TenantLimiter
    /// Prefix-cache partitions: the engine salt and the salted routing key of every request.
    let isolation: CacheIsolation
    /// Refuses requests once the replica drains, and counts those in flight for the drain.
    let admission: RequestAdmission
    /// Prices, and tenants' spend against their budgets.
    let spend: TenantSpend

    init(
        registry: NodeRegistry,
        scheduler: FleetScheduler,
        authenticator: APIKeyAuthenticator,
        ledger: UsageLedger,
        metrics: GatewayMetrics,
        configuration: GatewayConfiguration,
        admission: RequestAdmission = RequestAdmission(),
        limiter: TenantLimiter? = nil,
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
        self.limiter = limiter ?? TenantLimiter(clock: configuration.tenantClock)
        self.isolation = CacheIsolation(secret: configuration.cacheSecret)
        self.admission = admission
        self.spend = TenantSpend(prices: configuration.prices, store: ledger.store, ledger: ledger, now: configuration.wallClock)
    }

    /// `responsesAPI`: the request is a Responses API one (`POST /v1/responses`), served as a chat completion and
    /// answered in the Responses API's shape (``ResponsesTranslation``).
    func handle(
        _ request: Request, endpoint: CompletionRequest.Endpoint, responsesAPI: Bool = false, clientChannel: any Channel
    ) async throws -> Response {
        let started = ContinuousClock.now
        var generator = SystemRandomNumberGenerator()
        guard let admitted = admission.enter(clientChannel) else { throw OpenAIError.draining }
        let policy: TenantPolicy
        do {
            policy = try await authenticator.policy(authorization: request.headers[.authorization])
        } catch {
            admission.leave(admitted)
            throw error
        }
        let ticket = UsageTicket(
            requestID: "hearth-" + Hex.randomUUID(using: &generator),
            tenant: policy.tenant,
            started: started,
            ledger: ledger,
            metrics: metrics,
            conduct: registry.conduct,
            targets: configuration.classTargets,
            spend: spend,
            keyID: policy.keyID,
            now: configuration.wallClock
        )
        // In flight until its usage is settled, whichever way it ends (a stream: when its last byte is relayed).
        ticket.onAnswerEnd { [admission] in admission.leave(admitted) }
        do {
            return try await relay(
                request, endpoint: endpoint, responsesAPI: responsesAPI, policy: policy, ticket: ticket, started: started,
                clientChannel: clientChannel)
        } catch var error as OpenAIError {
            let (outcome, status) = Self.recorded(error)
            ticket.finish(outcome: outcome, status: status)
            error.requestID = ticket.requestID
            if error.status == .tooManyRequests { error.extraHeaders = limiter.headers(policy) }
            throw error
        } catch {
            let (outcome, status) = Self.recorded(error)
            ticket.finish(outcome: outcome, status: status)
            throw error
        }
    }

    /// How a request that ended with `error` is recorded: a node's failure (502, 504) or any other error (500) failed,
    /// every other refusal refused.
    static func recorded(_ error: any Error) -> (outcome: UsageRecord.Outcome, status: Int) {
        guard let error = error as? OpenAIError else { return (.failed, 500) }
        let status = error.status.code
        return (status == 502 || status == 504 ? .failed : .refused, status)
    }

    private func relay(
        _ request: Request,
        endpoint: CompletionRequest.Endpoint,
        responsesAPI: Bool,
        policy: TenantPolicy,
        ticket: UsageTicket,
        started: ContinuousClock.Instant,
        clientChannel: any Channel
    ) async throws -> Response {
        // The tenant's concurrency and request rate before anything of the request is read: a tenant at its
        // limits costs no body, no parse. Released on every path that ends the request.
        let lease = try limiter.admitRequest(policy)
        let release = LeaseRelease(limiter: limiter, lease: lease)
        ticket.onFinish { usage, ranOnNode in release.choiceFinished(usage: usage, ranOnNode: ranOnNode) }
        // A tenant whose budget is spent costs no body either.
        try await spend.admit(policy)
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: configuration.maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            throw OpenAIError.bodyTooLarge(limit: configuration.maximumBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw OpenAIError.bodyTooLarge(limit: configuration.maximumBodyBytes)
        }
        let responses = responsesAPI ? try ResponsesTranslation(body: body, requestID: ticket.requestID) : nil
        let requestBody = responses?.chatBody ?? body
        let parsed = try CompletionRequestParser.parse(
            Data(buffer: requestBody, byteTransferStrategy: .noCopy),
            endpoint: endpoint,
            taskHeader: request.headers[.hearthTask]
        )
        // Engines get the allow-listed body (docs/SECURITY.md, Client input); most requests keep the client's bytes.
        let engineBody = parsed.engineBody.map { ByteBuffer(bytes: $0) } ?? requestBody
        let taskClass = try classify(parsed)
        ticket.describe(
            model: parsed.model, taskClass: taskClass.rawValue, estimatedPromptTokens: parsed.estimatedPromptTokens,
            requestBytes: body.readableBytes, maxOutputTokens: parsed.maxTokens, streamed: parsed.stream)

        // The tenant's tokens: reserved now (prompt estimate + max_tokens), corrected to the bill when the request ends.
        // Each of `n` choices is a request of its own on a node: all are reserved.
        let perChoice = parsed.estimatedPromptTokens + (parsed.maxTokens ?? classifier.defaultMaxOutputTokens)
        try limiter.reserve(lease, tokens: perChoice.multipliedReportingOverflow(by: parsed.choices).partialValue, policy: policy)
        if parsed.choices > 1 {
            release.expect(parsed.choices)
            return try await fanOut(
                parsed, taskClass: taskClass, engineBody: engineBody, request: request, policy: policy, ticket: ticket,
                release: release, requestBytes: body.readableBytes, clientChannel: clientChannel, started: started)
        }
        let context = try makeContext(
            parsed, taskClass: taskClass, engineBody: engineBody, request: request, policy: policy, ticket: ticket,
            filter: responses)
        // A client that closes its connection stops the work at once, even before any byte was
        // written to it (a long prefill) or between tokens, whichever node runs it by then.
        let watch = disconnects.watch(clientChannel) { context.clientLeft() }

        // The first attempt, retried on other nodes while nothing has reached the client.
        let first: Attempt
        do {
            first = try await open(context.start(), context: context)
        } catch {
            disconnects.unwatch(watch)
            throw error
        }
        var headers = responseHeaders(first.head.contentType, placed: [first], taskClass: taskClass, ticket: ticket, policy: policy)
        ticket.placed(bestEffort: first.bestEffort)
        if parsed.stream {
            headers[.cacheControl] = "no-cache"
            // The body closure runs after this function returns: it owns the attempts until the stream ends.
            first.reservation.handOff()
            // A hedge race ends before the head goes out, so that the headers name the node that serves.
            var served = first
            var prefetched: StreamEvent?
            if let hedged = await hedgeFirstToken(first, context: context) {
                served = hedged.attempt
                // An event the race took is relayed first; the stream's close or failure, it left for the relay.
                if case .success(let event) = hedged.first { prefetched = event }
                headers[.hearthNode] = served.session.id.rawValue
                headers[.hearthDecision] = served.reason
            }
            headers[.hearthOverhead] = context.overheadMilliseconds(since: started)
            return Response(
                status: .init(code: served.head.status),
                headers: headers,
                body: ResponseBody { [self, disconnects, served, prefetched] writer in
                    defer { disconnects.unwatch(watch) }
                    try await relayStream(served, prefetched: prefetched, context: context, client: clientChannel, to: &writer)
                }
            )
        }
        defer { disconnects.unwatch(watch) }
        var (answer, status, node) = try await relayAnswer(first, context: context)
        if let responses, status < 300 { answer = try responses.answer(fromChat: answer, node: node) }
        headers[.hearthNode] = node.rawValue
        headers[.hearthOverhead] = context.overheadMilliseconds(since: started)
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: answer))
    }

    /// One request's (or one choice's) attempts: its cache partition, its scheduling request, its stream header.
    func makeContext(
        _ parsed: CompletionRequest, taskClass: TaskClass, engineBody: ByteBuffer, request: Request, policy: TenantPolicy,
        ticket: UsageTicket, filter: (any ClientStreamFilter)?
    ) throws -> AttemptContext {
        let maxOutputTokens = parsed.maxTokens ?? classifier.defaultMaxOutputTokens
        // The cache partition: its salt goes to the engine, its key into every routing hash (docs/SECURITY.md).
        let partition = CacheIsolation.partition(
            tenant: policy.tenant, dataClass: policy.dataClass, session: parsed.conversationKey.map { String($0, radix: 16) },
            requestID: ticket.requestID)
        let partitionKeys = isolation.keys(for: partition)
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
            partitionKey: partitionKeys.partitionKey)
        let security = RequestSecurity(
            tenant: policy.tenant, dataClass: policy.dataClass, cleanWindowSeconds: configuration.sensitiveCleanWindowSeconds)
        let header = StreamOpen(
            path: parsed.endpoint.rawValue,
            stream: parsed.stream,
            clientWantsUsageChunk: parsed.includeUsage,
            requestID: ticket.requestID
        )
        return AttemptContext(
            header: header, originalBody: engineBody, endpoint: parsed.endpoint == .chatCompletions ? .chatCompletions : .completions,
            interTokenStall: .nanoseconds(Int64(configuration.stallLimits.interToken(taskClass) * 1e9)), request: scheduling,
            promptTokens: parsed.estimatedPromptTokens, ticket: ticket, security: security, cacheSalt: partitionKeys.salt,
            machine: RelayStateMachine(
                request: scheduling, security: security, limits: configuration.migrationLimits,
                delivery: parsed.stream ? .streamed : .buffered),
            filter: filter, logger: logger)
    }

    /// The answer's head: the node (nodes, for several choices) and how it was placed, the class, the request's id,
    /// the tenant's rate-limit standing.
    func responseHeaders(
        _ contentType: String, placed attempts: [Attempt], taskClass: TaskClass, ticket: UsageTicket, policy: TenantPolicy
    ) -> HTTPFields {
        let bestEffort = attempts.contains { $0.bestEffort }
        var headers: HTTPFields = [
            .contentType: contentType,
            .hearthNode: attempts.map(\.session.id.rawValue).joined(separator: ","),
            .hearthClass: taskClass.rawValue,
            .hearthDecision: attempts.first?.reason ?? "",
            .hearthSLO: bestEffort ? SLOPolicy.bestEffort.rawValue : "target",
            .hearthRequestID: ticket.requestID,
        ]
        if bestEffort { metrics.bestEffort(taskClass: taskClass.rawValue) }
        headers.append(contentsOf: limiter.headers(policy))
        return headers
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
    /// Milliseconds the gateway added before the response's head: the request's time so far less what it waited on
    /// nodes (from each attempt's open frame to its head, and a buffered answer's body).
    static let hearthOverhead = HTTPField.Name("X-Hearth-Overhead-Ms")!
}
