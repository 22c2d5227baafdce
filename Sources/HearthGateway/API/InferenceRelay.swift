import Foundation
import HearthCore
import HearthProtocol
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import Synchronization

/// Serves one OpenAI completion request: authenticate, validate, route, relay over the node's
/// tunnel, and record usage exactly once whatever happens.
final class InferenceRelay: Sendable {
    private let registry: NodeRegistry
    private let router: any RequestRouter
    private let authenticator: APIKeyAuthenticator
    private let ledger: UsageLedger
    private let metrics: GatewayMetrics
    private let configuration: GatewayConfiguration
    private let logger: Logger
    private let disconnects = ClientDisconnectWatcher()

    init(
        registry: NodeRegistry,
        router: any RequestRouter,
        authenticator: APIKeyAuthenticator,
        ledger: UsageLedger,
        metrics: GatewayMetrics,
        configuration: GatewayConfiguration,
        logger: Logger
    ) {
        self.registry = registry
        self.router = router
        self.authenticator = authenticator
        self.ledger = ledger
        self.metrics = metrics
        self.configuration = configuration
        self.logger = logger
    }

    static let taskClasses: Set<String> = ["chat", "document", "code", "batch"]

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
        let taskClass = try Self.classify(parsed)
        ticket.describe(model: parsed.model, taskClass: taskClass, estimatedPromptTokens: parsed.estimatedPromptTokens)

        let session = try place(parsed, taskClass: taskClass)
        defer { registry.release(session) }
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
            .hearthClass: taskClass,
            .hearthRequestID: ticket.requestID,
        ]
        if parsed.stream {
            headers[.cacheControl] = "no-cache"
            // The body closure runs after this function returns: keep the reservation until it ends.
            guard let reserved = registry.acquire(session.id) else {
                disconnects.unwatch(watch)
                session.cancel(stream)
                throw OpenAIError.nodeFailed("Node \(session.id) went away before the answer started.")
            }
            let response = Response(
                status: .init(code: head.status),
                headers: headers,
                body: ResponseBody { [registry, disconnects] writer in
                    defer {
                        registry.release(reserved)
                        disconnects.unwatch(watch)
                    }
                    try await Self.relayStream(stream, session: session, deadline: deadline, status: head.status, ticket: ticket, to: &writer)
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
        if let failure = end?.error, head.status < 300 {
            ticket.finish(outcome: .failed, status: 502, usage: end?.usage)
            throw OpenAIError.nodeFailed("Node \(session.id) failed: \(failure.message)")
        }
        ticket.finish(outcome: head.status < 300 ? .completed : .failed, status: head.status, usage: end?.usage)
        return Response(status: .init(code: head.status), headers: headers, body: .init(byteBuffer: answer))
    }

    private func place(_ parsed: CompletionRequest, taskClass: String) throws -> NodeSession {
        let candidates = registry.candidates(model: parsed.model)
        if candidates.isEmpty {
            if registry.nodeIDs.isEmpty {
                throw OpenAIError.noCapacity("No node is connected to this gateway.", retryAfterSeconds: 5, overloaded: false)
            }
            if !registry.servedModels().contains(where: { $0.id == parsed.model }) {
                throw OpenAIError.modelNotFound(parsed.model)
            }
            throw OpenAIError.noCapacity(
                "Every node serving \(parsed.model) is draining.",
                retryAfterSeconds: 5,
                overloaded: false
            )
        }
        switch router.route(parsed, taskClass: taskClass, candidates: candidates) {
        case .node(let id, _):
            guard let session = registry.acquire(id) else {
                throw OpenAIError.noCapacity("Node \(id) went away while the request was placed.", retryAfterSeconds: 1, overloaded: false)
            }
            return session
        case .refuse(let reason, let retryAfter, let overloaded):
            throw OpenAIError.noCapacity(reason, retryAfterSeconds: retryAfter, overloaded: overloaded)
        }
    }

    private static func relayStream(
        _ stream: GatewayStream,
        session: NodeSession,
        deadline: Scheduled<Void>,
        status: Int,
        ticket: UsageTicket,
        to writer: inout any ResponseBodyWriter
    ) async throws {
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
            return
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
            return OpenAIError(status: .init(code: 499), message: "The client closed the request.", type: "api_error", code: "client_closed")
        default:
            return .nodeFailed("Node \(node) failed: \(error)")
        }
    }

    /// The declared class if valid, otherwise inferred from the request's shape.
    static func classify(_ request: CompletionRequest) throws -> String {
        if let declared = request.declaredTask {
            guard taskClasses.contains(declared) else {
                throw OpenAIError.invalidRequest(
                    "Unknown task class '\(declared)'; use one of \(taskClasses.sorted().joined(separator: ", ")).",
                    param: "metadata.task",
                    code: "invalid_value"
                )
            }
            return declared
        }
        return "chat"
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
    static let hearthRequestID = HTTPField.Name("X-Request-Id")!
}
