import NIOCore
import NIOHTTP1
import NIOPosix

/// Keep-alive HTTP/1.1 connections to the node's engine, all on one event loop: the tunnel's.
///
/// A request taken from the gateway is written to a connection on the same loop that reads the tunnel, and the
/// engine's answer is written back to the tunnel from that loop too, so no bytes change threads on the way. Owned by
/// that loop: every method runs on it.
final class EngineConnectionPool {
    private let eventLoop: any EventLoop
    private let maximumIdle: Int
    /// Servers close idle keep-alive connections after a few seconds (llama.cpp's and uvicorn's after 5); one idle
    /// for longer than this is not reused, so a request never races the server's close.
    private let maximumIdleAge: Duration
    private var idle: [(connection: EngineConnection, since: NIODeadline)] = []
    private var isClosed = false

    init(eventLoop: any EventLoop, maximumIdle: Int, maximumIdleAge: Duration = .seconds(2)) {
        self.eventLoop = eventLoop
        self.maximumIdle = max(1, maximumIdle)
        self.maximumIdleAge = maximumIdleAge
    }

    /// A connection to `host:port`: an idle one if a fresh one is at hand (`reused` true), else a new one.
    func acquire(host: String, port: Int, _ done: @escaping (Result<(connection: EngineConnection, reused: Bool), any Error>) -> Void) {
        eventLoop.preconditionInEventLoop()
        guard !isClosed else { return done(.failure(EngineError("the node's tunnel is closed"))) }
        let oldest = NIODeadline.now() - .nanoseconds(Int64(maximumIdleAge.components.seconds * 1_000_000_000))
        while let last = idle.popLast() {
            if last.connection.host == host, last.connection.port == port, last.since > oldest, last.connection.channel.isActive {
                return done(.success((last.connection, true)))
            }
            last.connection.channel.close(promise: nil)
        }
        connect(host: host, port: port) { done($0.map { ($0, false) }) }
    }

    /// Opens a new connection, never an idle one.
    func connect(host: String, port: Int, _ done: @escaping (Result<EngineConnection, any Error>) -> Void) {
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(EngineResponseHandler())
                }
            }
            .connect(host: host, port: port)
            .assumeIsolated()
            .whenComplete { result in
                done(
                    result.flatMap { channel in
                        Result {
                            let handler = try channel.pipeline.syncOperations.handler(type: EngineResponseHandler.self)
                            return EngineConnection(channel: channel, handler: handler, host: host, port: port)
                        }
                    })
            }
    }

    /// Takes back a connection whose answer ended and that the server keeps open.
    func release(_ connection: EngineConnection) {
        eventLoop.preconditionInEventLoop()
        guard !isClosed, connection.channel.isActive, idle.count < maximumIdle else {
            connection.channel.close(promise: nil)
            return
        }
        idle.append((connection, .now()))
    }

    /// Closes the idle connections and refuses new ones: the tunnel is gone.
    func close() {
        eventLoop.preconditionInEventLoop()
        isClosed = true
        for entry in idle { entry.connection.channel.close(promise: nil) }
        idle.removeAll()
    }
}

/// One HTTP/1.1 connection to the engine and the handler that reads its answers.
final class EngineConnection {
    let channel: any Channel
    let handler: EngineResponseHandler
    let host: String
    let port: Int

    init(channel: any Channel, handler: EngineResponseHandler, host: String, port: Int) {
        self.channel = channel
        self.handler = handler
        self.host = host
        self.port = port
    }

    /// Sends one POST: head, body and end in one flush (one `writev`).
    func send(path: String, body: ByteBuffer, to receiver: any EngineAnswerReceiver) {
        handler.receiver = receiver
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: port == 80 ? host : "\(host):\(port)")
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// Stops or resumes reading the answer (flow control: the gateway's window is spent).
    func setReading(_ reading: Bool) {
        try? channel.syncOptions?.setOption(.autoRead, value: reading)
        if reading { channel.read() }
    }
}

/// What the relay of one answer is told as the engine's bytes arrive.
protocol EngineAnswerReceiver: AnyObject {
    func engineHead(_ head: HTTPResponseHead)
    func engineBody(_ bytes: ByteBuffer)
    func engineEnd(keepAlive: Bool)
    func engineFailed(_ error: any Error)
    func engineReadComplete()
}

/// Hands one connection's response parts to the relay of the request in flight on it.
final class EngineResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// The answer in flight; nil while the connection is idle.
    fileprivate(set) var receiver: (any EngineAnswerReceiver)?
    private var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let receiver else {
            // Bytes with no request in flight: the connection is out of step, never reuse it.
            context.close(promise: nil)
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            receiver.engineHead(head)
        case .body(let bytes):
            receiver.engineBody(bytes)
        case .end:
            self.receiver = nil
            receiver.engineEnd(keepAlive: keepAlive)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        receiver?.engineReadComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let receiver {
            self.receiver = nil
            receiver.engineFailed(EngineError("the engine closed the connection before the answer ended"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let receiver {
            self.receiver = nil
            receiver.engineFailed(error)
        }
        context.close(promise: nil)
    }

    /// Forgets the answer in flight without telling it (it was cancelled).
    func abandon() {
        receiver = nil
    }
}
