import HearthCore
import HearthProtocol
import HearthTunnel
import Logging
import NIOCore
import NIOHTTP1

/// Relays one request to an HTTP engine and its answer to the gateway, on the tunnel's event loop.
///
/// The request goes out in one write on a pooled keep-alive connection. The engine's bytes pass through the
/// ``AnswerMeter`` into data frames as they are read, and the tunnel is flushed once per read burst. When the
/// gateway's window is spent (``StreamSendWindow``), the relay keeps what it read and stops reading from the engine
/// until the gateway grants more. Every method runs on the tunnel's event loop.
final class EngineHTTPRelay: EngineAnswerReceiver {
    private enum Phase {
        case connecting
        /// `retryable`: the connection was reused and nothing came back yet, so a server that closed it while idle
        /// gets the request again on a fresh one.
        case waitingForHead(EngineConnection, retryable: Bool)
        case relaying(EngineConnection)
        /// The engine's answer is complete; the end frame may still wait for window.
        case drained
        case over
    }

    let id: UInt32
    private let tunnel: any Channel
    private let pool: EngineConnectionPool
    private let target: EngineHTTPTarget
    private let header: StreamOpen
    private let chunkBytes: Int
    private let logger: Logger
    private let onOver: (UInt32) -> Void
    private let started = ContinuousClock.now
    private var phase = Phase.connecting
    private var window = StreamSendWindow(credit: TunnelProtocol.initialStreamWindow)
    /// Bytes read from the engine and not yet sent: exactly `window.held` of them.
    private var held = ByteBuffer()
    private var meter: AnswerMeter
    private var firstToken: Duration?
    private var failure: TunnelErrorMessage?

    init(
        stream id: UInt32, header: StreamOpen, target: EngineHTTPTarget, tunnel: any Channel, pool: EngineConnectionPool,
        chunkBytes: Int, logger: Logger, onOver: @escaping (UInt32) -> Void
    ) {
        self.id = id
        self.header = header
        self.target = target
        self.tunnel = tunnel
        self.pool = pool
        self.chunkBytes = max(1, chunkBytes)
        self.logger = logger
        self.onOver = onOver
        meter = AnswerMeter(streaming: header.stream, forwardUsageChunk: header.clientWantsUsageChunk)
    }

    func start() {
        pool.acquire(host: target.host, port: target.port) { [self] result in
            switch result {
            case .success(let acquired): send(on: acquired.connection, retryable: acquired.reused)
            case .failure(let error): engineFailed(error)
            }
        }
    }

    private func send(on connection: EngineConnection, retryable: Bool) {
        guard case .connecting = phase else {
            // Cancelled while connecting: the connection is unused and may serve another request.
            pool.release(connection)
            return
        }
        phase = .waitingForHead(connection, retryable: retryable)
        connection.send(path: target.path, body: target.body, to: self)
    }

    /// The gateway granted `bytes` more window.
    func grant(_ bytes: Int) {
        let (count, end) = window.grant(bytes)
        sendHeld(count)
        if end { sendEnd() }
        if window.readsSource, case .relaying(let connection) = phase { connection.setReading(true) }
        tunnel.flush()
    }

    /// The gateway cancelled the stream, the node hands it back, or the tunnel is gone: stop without an end frame.
    func cancel() {
        switch phase {
        case .waitingForHead(let connection, _), .relaying(let connection):
            // The engine stops generating when its connection closes.
            connection.handler.abandon()
            connection.channel.close(promise: nil)
        case .connecting, .drained, .over:
            break
        }
        over()
    }

    // MARK: The engine's answer

    func engineHead(_ head: HTTPResponseHead) {
        guard case .waitingForHead(let connection, _) = phase else { return }
        phase = .relaying(connection)
        let contentType = head.headers.first(name: "content-type") ?? (header.stream ? "text/event-stream" : "application/json")
        tunnel.write(StreamMessageCodec.head(StreamHead(status: Int(head.status.code), contentType: contentType), stream: id), promise: nil)
    }

    func engineBody(_ bytes: ByteBuffer) {
        guard case .relaying(let connection) = phase, var forward = meter.take(bytes) else { return }
        if firstToken == nil, meter.sawFirstContent { firstToken = .now - started }
        relay(&forward)
        if !window.readsSource { connection.setReading(false) }
    }

    func engineReadComplete() {
        tunnel.flush()
    }

    func engineEnd(keepAlive: Bool) {
        guard case .relaying(let connection) = phase else { return }
        phase = .drained
        if keepAlive { pool.release(connection) } else { connection.channel.close(promise: nil) }
        if var tail = meter.finish() { relay(&tail) }
        if window.finish() { sendEnd() }
        tunnel.flush()
    }

    func engineFailed(_ error: any Error) {
        switch phase {
        case .waitingForHead(let connection, retryable: true):
            // A reused connection the server had closed while idle: send the request once more on a fresh one.
            connection.channel.close(promise: nil)
            phase = .connecting
            pool.connect(host: target.host, port: target.port) { [self] result in
                switch result {
                case .success(let fresh): send(on: fresh, retryable: false)
                case .failure(let error): engineFailed(error)
                }
            }
            return
        case .waitingForHead(let connection, retryable: false), .relaying(let connection):
            connection.channel.close(promise: nil)
        case .connecting:
            break
        case .drained, .over:
            return
        }
        logger.warning("engine request failed", metadata: ["request": "\(header.requestID)", "error": "\(error)"])
        failure = TunnelErrorMessage(code: .engineFailed, message: "\(error)")
        // What is held would arrive after the failure: the gateway re-places the request from what it received.
        held.clear()
        sendEnd()
        tunnel.flush()
    }

    // MARK: Sending

    private func relay(_ bytes: inout ByteBuffer) {
        let count = window.read(bytes.readableBytes)
        held.writeBuffer(&bytes)
        sendHeld(count)
    }

    private func sendHeld(_ count: Int) {
        var remaining = count
        while remaining > 0, let chunk = held.readSlice(length: min(remaining, chunkBytes)) {
            remaining -= chunk.readableBytes
            tunnel.write(TunnelFrame(kind: .data, stream: id, payload: chunk), promise: nil)
        }
        if held.readableBytes == 0 { held.clear() }
    }

    private func sendEnd() {
        let usage =
            meter.usage
            ?? TokenUsage(
                promptTokens: max(1, target.body.readableBytes / 4), completionTokens: meter.contentChunks, reportedByEngine: false)
        let end = StreamEnd(usage: usage, engineTimeToFirstTokenMilliseconds: firstToken?.milliseconds, error: failure)
        tunnel.write(StreamMessageCodec.end(end, stream: id), promise: nil)
        over()
    }

    private func over() {
        guard !isOver else { return }
        phase = .over
        target.finished()
        onOver(id)
    }

    private var isOver: Bool {
        if case .over = phase { return true }
        return false
    }
}
