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
    private let registry: NodeRegistry
    private let scheduler: FleetScheduler
    private let classifier = TaskClassifier()
    private let authenticator: APIKeyAuthenticator
    private let ledger: UsageLedger
    private let metrics: GatewayMetrics
    private let configuration: GatewayConfiguration
    private let logger: Logger
    private let disconnects = ClientDisconnectWatcher()

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
    }

    func handle(_ request: Request, endpoint: CompletionRequest.Endpoint, clientChannel: any Channel) async throws -> Response {
        let started = ContinuousClock.now
        let tenant = try await authenticator.tenant(authorization: request.headers[.authorization])
        let ticket = UsageTicket(
            requestID: "hearth-" + UUID().uuidString.lowercased(),
            tenant: tenant,
            started: started,
            ledger: ledger,
            metrics: metrics
        )
        do {
            return try await relay(request, endpoint: endpoint, ticket: ticket, clientChannel: clientChannel)
        } catch let error as OpenAIError {
            ticket.finish(outcome: error.status.code == 502 || error.status.code == 504 ? .failed : .refused, status: error.status.code)
            throw error
        } catch {
            ticket.finish(outcome: .failed, status: 500)
            throw error
        }
    }

    private func relay(
        _ request: Request,
        endpoint: CompletionRequest.Endpoint,
        ticket: UsageTicket,
        clientChannel: any Channel
    ) async throws -> Response {
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
        let taskClass = try classify(parsed)
        ticket.describe(model: parsed.model, taskClass: taskClass.rawValue, estimatedPromptTokens: parsed.estimatedPromptTokens)

        let (reservation, reason) = try await place(parsed, taskClass: taskClass)
        let session = reservation.session
        // Released here unless a streamed body takes it over (and releases it when the stream ends).
        defer { reservation.release(end: nil) }
        ticket.assign(session.id)

        let header = StreamOpen(
            path: endpoint.rawValue,
            stream: parsed.stream,
            clientWantsUsageChunk: parsed.includeUsage,
            requestID: ticket.requestID
        )
        let stream = try session.open(header, body: body)
        let timeout = configuration.firstByteTimeout
        let deadline = session.channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanosecondsClamped)) {
            stream.fail(FirstByteTimeout(after: timeout))
        }
        // A client that closes its connection stops the work at once, even before any byte was
        // written to it (a long prefill) or between tokens.
        let watch = disconnects.watch(clientChannel) { stream.fail(ClientGone()) }
        let head: StreamHead
        do {
            head = try await withTaskCancellationHandler {
                try await stream.head()
            } onCancel: {
                stream.fail(CancellationError())
            }
        } catch {
            deadline.cancel()
            disconnects.unwatch(watch)
            session.cancel(stream)
            throw Self.mapNodeFailure(error, node: session.id)
        }

        var headers: HTTPFields = [
            .contentType: head.contentType,
            .hearthNode: session.id.rawValue,
            .hearthClass: taskClass.rawValue,
            .hearthDecision: reason,
            .hearthRequestID: ticket.requestID,
        ]
        if parsed.stream {
            headers[.cacheControl] = "no-cache"
            // The body closure runs after this function returns: it keeps the reservation until the stream ends.
            reservation.handOff()
            let response = Response(
                status: .init(code: head.status),
                headers: headers,
                body: ResponseBody { [disconnects] writer in
                    var end: StreamEnd?
                    defer {
                        reservation.release(end: end, afterHandOff: true)
                        disconnects.unwatch(watch)
                    }
                    end = try await Self.relayStream(
                        stream, session: session, deadline: deadline, status: head.status, ticket: ticket, to: &writer)
                }
            )
            return response
        }

        defer { disconnects.unwatch(watch) }
        var answer = ByteBuffer()
        var end: StreamEnd?
        do {
            for try await event in stream.body {
                deadline.cancel()
                switch event {
                case .data(let bytes):
                    ticket.firstByte()
                    guard answer.readableBytes + bytes.readableBytes <= configuration.maximumAnswerBytes else {
                        throw TunnelErrorMessage(
                            code: .flowControl,
                            message: "answer exceeds the \(configuration.maximumAnswerBytes)-byte limit for non-streamed requests"
                        )
                    }
                    session.consumed(bytes.readableBytes, on: stream)
                    var bytes = bytes
                    answer.writeBuffer(&bytes)
                case .end(let last):
                    end = last
                }
            }
        } catch {
            deadline.cancel()
            session.cancel(stream)
            throw Self.mapNodeFailure(error, node: session.id)
        }
        session.finish(stream)
        reservation.release(end: end)
        if let failure = end?.error, head.status < 300 {
            ticket.finish(outcome: .failed, status: 502, usage: end?.usage)
            throw OpenAIError.nodeFailed("Node \(session.id) failed: \(failure.message)")
        }
        ticket.finish(outcome: head.status < 300 ? .completed : .failed, status: head.status, usage: end?.usage)
        return Response(status: .init(code: head.status), headers: headers, body: .init(byteBuffer: answer))
    }

    /// Asks the scheduler for a node; holds the request while the scheduler says it can still meet its
    /// target later (`queue`), and maps a refusal to 404, 429 or 503.
    private func place(_ parsed: CompletionRequest, taskClass: TaskClass) async throws -> (Reservation, String) {
        if registry.nodeIDs.isEmpty {
            throw OpenAIError.noCapacity("No node is connected to this gateway.", retryAfterSeconds: 5, overloaded: false)
        }
        if !registry.servedModels().contains(where: { $0.id == parsed.model }) {
            // Not served by an admitting node: unknown to the fleet (404), or all its nodes are draining (503).
            throw !registry.serves(parsed.model)
                ? OpenAIError.modelNotFound(parsed.model)
                : OpenAIError.noCapacity("Every node serving \(parsed.model) is draining.", retryAfterSeconds: 5, overloaded: false)
        }
        let request = SchedulingRequest(
            model: parsed.model,
            taskClass: taskClass,
            promptTokens: parsed.estimatedPromptTokens,
            maxOutputTokens: parsed.maxTokens ?? classifier.defaultMaxOutputTokens,
            prefixHashes: [],
            sessionKey: parsed.conversationKey,
            arrival: 0
        )
        while true {
            let capacity = registry.capacityChanges()
            let decision = scheduler.decide(request)
            metrics.decision(policy: scheduler.policy.rawValue, outcome: decision.outcomeLabel)
            switch decision {
            case .place(let placement):
                guard let session = registry.acquire(placement.node) else {
                    scheduler.finished(placement.node, promptTokens: request.promptTokens, model: request.model, observed: nil)
                    continue  // it left between the decision and now: decide again
                }
                let reservation = Reservation(
                    session: session,
                    model: request.model,
                    promptTokens: request.promptTokens,
                    batch: scheduler.runningSequences(on: placement.node),
                    registry: registry,
                    scheduler: scheduler
                )
                return (reservation, Self.headerSafe(placement.reason.description))
            case .queue(let until, let reason):
                // Wait for a node to free capacity (or join), but never past the point where the target is lost.
                let wait = until - scheduler.now
                guard wait > 0, await capacity.wait(seconds: wait) else {
                    throw OpenAIError.noCapacity(
                        "No node can meet the \(taskClass.rawValue) target now: \(reason.description)",
                        retryAfterSeconds: 1,
                        overloaded: true
                    )
                }
            case .refuse(let retryAfter, let reason):
                if case .noNodeServesModel = reason { throw OpenAIError.modelNotFound(parsed.model) }
                throw OpenAIError.noCapacity(
                    "No node can take this \(taskClass.rawValue) request: \(reason.description)",
                    retryAfterSeconds: retryAfter.map { max(1, Int($0.rounded(.up))) } ?? 5,
                    overloaded: retryAfter != nil
                )
            }
        }
    }

    /// Header values must be visible ASCII.
    static func headerSafe(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
    }

    private static func relayStream(
        _ stream: GatewayStream,
        session: NodeSession,
        deadline: Scheduled<Void>,
        status: Int,
        ticket: UsageTicket,
        to writer: inout any ResponseBodyWriter
    ) async throws -> StreamEnd? {
        var end: StreamEnd?
        var clientGone = false
        var nodeFailure: (any Error)?
        do {
            for try await event in stream.body {
                deadline.cancel()
                switch event {
                case .data(let bytes):
                    ticket.firstByte()
                    let count = bytes.readableBytes
                    do {
                        try await writer.write(bytes)
                    } catch {
                        clientGone = true
                        break
                    }
                    session.consumed(count, on: stream)
                case .end(let last):
                    end = last
                }
                if clientGone { break }
            }
        } catch {
            nodeFailure = error
        }
        deadline.cancel()
        if clientGone || Task.isCancelled || nodeFailure is ClientGone || (end == nil && nodeFailure == nil) {
            // The client went away (or the handler was cancelled): stop the engine now.
            session.cancel(stream)
            ticket.finish(outcome: .cancelled, status: 499, usage: end?.usage)
            return nil
        }
        session.finish(stream)
        if let nodeFailure {
            let error = mapNodeFailure(nodeFailure, node: session.id)
            try? await writer.write(ByteBuffer(bytes: Array("data: ".utf8) + Array(error.jsonBody) + Array("\n\n".utf8)))
            ticket.finish(outcome: .failed, status: error.status.code, usage: end?.usage)
        } else if let failure = end?.error {
            let error = OpenAIError.nodeFailed("Node \(session.id) failed mid-stream: \(failure.message)")
            try? await writer.write(ByteBuffer(bytes: Array("data: ".utf8) + Array(error.jsonBody) + Array("\n\n".utf8)))
            ticket.finish(outcome: .failed, status: 502, usage: end?.usage)
        } else {
            ticket.finish(outcome: status < 300 ? .completed : .failed, status: status, usage: end?.usage)
        }
        try? await writer.finish(nil)
        return end
    }

    private static func mapNodeFailure(_ error: any Error, node: NodeID) -> OpenAIError {
        switch error {
        case let timeout as FirstByteTimeout:
            return .nodeTimeout("Node \(node) produced no answer within \(timeout.after).")
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

extension HTTPField.Name {
    static let hearthTask = HTTPField.Name("X-Hearth-Task")!
    static let hearthNode = HTTPField.Name("X-Hearth-Node")!
    static let hearthClass = HTTPField.Name("X-Hearth-Class")!
    static let hearthDecision = HTTPField.Name("X-Hearth-Decision")!
    static let hearthRequestID = HTTPField.Name("X-Request-Id")!
}
