import Foundation
import HearthCore
import HearthNode
import HearthProtocol
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A bare HTTP/1.1 server on a loopback port that answers the node like an OpenAI-compatible engine, each answer
/// scripted by the test, and that reports requests and closed connections as events the test awaits.
///
/// The node reaches it through ``OpenAICompatibleEngine``, so requests take the node's event-loop relay
/// (``EngineHTTPTarget``): its pooled keep-alive connections, its flow control and its cancellation.
final class ScriptedHTTPEngine: Sendable {
    enum Event: Sendable, Equatable {
        /// A request arrived on connection number `connection` (numbered from 1 in the order they were accepted).
        case request(path: String, connection: Int)
        case closed(connection: Int)
    }

    struct Request: Sendable {
        var path: String
        var body: String
        var connection: Int
        /// How many requests this server saw before this one.
        var index: Int
    }

    /// Writes one answer. Each write waits until the bytes are handed to the kernel, so a reader that stops
    /// reading holds the script up (backpressure).
    struct Responder: Sendable {
        fileprivate let channel: any Channel

        func head(contentType: String = "text/event-stream", status: HTTPResponseStatus = .ok) async throws {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            try await channel.writeAndFlush(
                HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
        }

        func send(_ text: String) async throws {
            try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: text))))
        }

        func end() async throws {
            try await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        }

        /// Closes the connection mid-answer, as an engine that crashes does.
        func hangUp() async {
            try? await channel.close()
        }
    }

    typealias Script = @Sendable (Request, Responder) async throws -> Void

    let port: Int
    let events: AsyncStream<Event>
    private let serverChannel: any Channel

    private init(port: Int, events: AsyncStream<Event>, serverChannel: any Channel) {
        self.port = port
        self.events = events
        self.serverChannel = serverChannel
    }

    static func start(_ script: @escaping Script) async throws -> ScriptedHTTPEngine {
        let (events, sink) = AsyncStream<Event>.makeStream()
        let counters = ScriptedCounters()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let number = counters.value.withLock { counters in
                    counters.connections += 1
                    return counters.connections
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
                    try channel.pipeline.syncOperations.addHandler(
                        ScriptedRequestHandler(connection: number, script: script, events: sink, counters: counters))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return ScriptedHTTPEngine(port: server.localAddress?.port ?? 0, events: events, serverChannel: server)
    }

    func stop() async {
        try? await serverChannel.close()
    }

    /// The node's view: an OpenAI-compatible engine at this server, with a fixed model list and profile so that no
    /// calibration request reaches the script.
    func engine(slots: Int = 4) -> HTTPRelayedTestEngine {
        HTTPRelayedTestEngine(
            inner: OpenAICompatibleEngine(baseURL: "http://127.0.0.1:\(port)", slots: slots, client: .shared), slots: slots)
    }

    /// Waits for the next event that `matches`, skipping others.
    static func next(in iterator: inout AsyncStream<Event>.Iterator, where matches: (Event) -> Bool) async -> Event? {
        while let event = await iterator.next() {
            if matches(event) { return event }
        }
        return nil
    }
}

/// ``OpenAICompatibleEngine``'s HTTP target for requests, fixed answers for what the node asks at join.
struct HTTPRelayedTestEngine: Engine {
    let inner: OpenAICompatibleEngine
    let slots: Int
    var kind: String { "openai" }

    func models() async throws -> [ServedModel] { [ServedModel(id: "test-model", contextTokens: 32_768)] }
    func isHealthy() async -> Bool { true }
    func calibrate(_ model: ServedModel) async -> NodeProfile? {
        NodeProfile(
            model: model.id, prefillTokensPerSecond: 100_000, prefillOverheadSeconds: 0.001, decodeBaseSeconds: 0.001,
            decodePerSequenceSeconds: 0.0001, maxBatch: slots, prefixCacheBlocks: 0, linkRTTSeconds: 0)
    }
    func httpTarget(for request: EngineRequest) -> EngineHTTPTarget? { inner.httpTarget(for: request) }
    /// Never called: every request must take the event-loop relay, and a test through this engine fails otherwise.
    func run(_ request: EngineRequest, onHead: (StreamHead) async throws -> Void, onData: (ByteBuffer) async throws -> Void) async throws {
        throw EngineError("the request took the task path, not the node's event-loop relay")
    }
}

private final class ScriptedRequestHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart

    private let connection: Int
    private let script: ScriptedHTTPEngine.Script
    private let events: AsyncStream<ScriptedHTTPEngine.Event>.Continuation
    private let counters: ScriptedCounters
    private let partial = Mutex<(path: String, body: String)?>(nil)

    init(
        connection: Int, script: @escaping ScriptedHTTPEngine.Script, events: AsyncStream<ScriptedHTTPEngine.Event>.Continuation,
        counters: ScriptedCounters
    ) {
        self.connection = connection
        self.script = script
        self.events = events
        self.counters = counters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            partial.withLock { $0 = (head.uri, "") }
        case .body(let bytes):
            partial.withLock { $0?.body += String(buffer: bytes) }
        case .end:
            guard let request = partial.withLock({ $0.take() }) else { return }
            let index = counters.value.withLock { counters in
                defer { counters.requests += 1 }
                return counters.requests
            }
            events.yield(.request(path: request.path, connection: connection))
            let responder = ScriptedHTTPEngine.Responder(channel: context.channel)
            let script = self.script
            let scripted = ScriptedHTTPEngine.Request(path: request.path, body: request.body, connection: connection, index: index)
            Task { try? await script(scripted, responder) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        events.yield(.closed(connection: connection))
        context.fireChannelInactive()
    }
}

/// Connections accepted and requests seen, shared by every connection of one server.
private final class ScriptedCounters: Sendable {
    let value = Mutex((connections: 0, requests: 0))
}
