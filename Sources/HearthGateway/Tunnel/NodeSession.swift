package import Foundation
package import HearthCore
package import HearthProtocol
import HearthTunnel
package import NIOCore
import Synchronization

/// One registered node's tunnel on the gateway: its open streams and liveness.
package final class NodeSession: Sendable {
    package let hello: NodeHello
    package let channel: any Channel
    package var id: NodeID { hello.nodeID }
    private let state: Mutex<State>

    private struct State {
        var streams: [UInt32: GatewayStream] = [:]
        var nextStreamID: UInt32 = 1
        var closed = false
        var goingAway = false
        var lastHeard: NIODeadline
        var lastHeartbeat: NodeHeartbeat?
    }

    private let onLie: @Sendable (NodeSession, AnswerAudit.Lie, String) -> Void
    private let onHeartbeat: @Sendable (NodeSession, NodeHeartbeat) -> Void
    /// This tunnel's heartbeat checks: pace, sequence, power against the declared hardware, energy intervals.
    private let heartbeats: Mutex<NodeHeartbeatValidator>
    private let onIdentity: @Sendable (NodeSession, TunnelFrame) -> Void

    /// - Parameter onLie: a frame that no honest node sends (the stream it came on has been failed).
    /// - Parameter onIdentity: renewal requests and tamper reports (the gateway's identity handles them).
    init(
        hello: NodeHello, channel: any Channel, now: NIODeadline, heartbeatInterval: TimeAmount = .seconds(1),
        onLie: @escaping @Sendable (NodeSession, AnswerAudit.Lie, String) -> Void = { _, _, _ in },
        onHeartbeat: @escaping @Sendable (NodeSession, NodeHeartbeat) -> Void = { _, _ in },
        onIdentity: @escaping @Sendable (NodeSession, TunnelFrame) -> Void = { _, _ in }
    ) {
        self.hello = hello
        self.channel = channel
        self.onLie = onLie
        self.onHeartbeat = onHeartbeat
        self.onIdentity = onIdentity
        state = Mutex(State(lastHeard: now))
        heartbeats = Mutex(NodeHeartbeatValidator(hello: hello, heartbeatIntervalSeconds: Double(heartbeatInterval.nanoseconds) / 1e9))
    }

    /// Sends the node the power limits in force.
    package func send(_ limit: PowerLimit) {
        channel.writeAndFlush(TunnelFrame.json(.powerLimit, limit), promise: nil)
    }

    /// Whether new streams may be opened on this node.
    package var isAcceptingStreams: Bool {
        state.withLock { !$0.closed && !$0.goingAway }
    }

    package var streamCount: Int { state.withLock { $0.streams.count } }

    /// Opens a stream and sends the request to the node.
    package func open(_ header: StreamOpen, body: ByteBuffer) throws -> GatewayStream {
        let stream = try state.withLock { state -> GatewayStream in
            guard !state.closed else { throw NodeLostError(nodeID: hello.nodeID, reason: "tunnel closed") }
            let id = state.nextStreamID
            state.nextStreamID &+= 1
            let stream = GatewayStream(id: id, window: TunnelProtocol.initialStreamWindow, eventLoop: channel.eventLoop)
            state.streams[id] = stream
            return stream
        }
        channel.writeAndFlush(StreamMessageCodec.open(header, body: body, stream: stream.id), promise: nil)
        return stream
    }

    /// Stops a stream: tells the node to cancel it and forgets it. Safe to call more than once.
    package func cancel(_ stream: GatewayStream) {
        let removed = state.withLock { $0.streams.removeValue(forKey: stream.id) }
        if removed != nil {
            channel.writeAndFlush(TunnelFrame(kind: .cancel, stream: stream.id), promise: nil)
        }
    }

    /// Forgets a stream that ended normally.
    package func finish(_ stream: GatewayStream) {
        _ = state.withLock { $0.streams.removeValue(forKey: stream.id) }
    }

    /// Grants the node more window once the client has taken enough bytes.
    package func consumed(_ bytes: Int, on stream: GatewayStream) {
        if let increment = stream.consumed(bytes) {
            channel.writeAndFlush(TunnelFrame.windowUpdate(stream: stream.id, bytes: increment), promise: nil)
        }
    }

    /// Handles a frame from the node after registration. Stream-level violations fail only that
    /// stream; a thrown error is a connection-level violation and closes the tunnel.
    func handle(_ frame: TunnelFrame, now: NIODeadline) throws {
        state.withLock { $0.lastHeard = now }
        switch frame.kind {
        case .heartbeat:
            // Over the tunnel's pace: not even decoded (a flood costs a counter, not a decode and a ledger write).
            let monotonic = Double(now.uptimeNanoseconds) / 1e9
            guard heartbeats.withLock({ $0.admit(at: monotonic) }) else { return }
            let beat = try HeartbeatCodec.decodeHeartbeat(frame)
            // Echoed, when the node asks, before anything else is done with it: the node times this round trip.
            if HeartbeatCodec.wantsEcho(frame) { channel.writeAndFlush(HeartbeatCodec.ack(beat.sequence), promise: nil) }
            let wallClock = Int64(Date().timeIntervalSince1970)
            switch heartbeats.withLock({ $0.check(beat, now: wallClock, monotonicSeconds: monotonic) }) {
            case .reject(let message):
                // Ignored, not fatal: an honest node with a bad sensor keeps serving on its last good report.
                channel.writeAndFlush(TunnelFrame.json(.error, message), promise: nil)
            case .accept(let accepted, let warning, let lie):
                if let warning { channel.writeAndFlush(TunnelFrame.json(.error, warning), promise: nil) }
                if let lie { onLie(self, .forgedEnergy, lie) }
                state.withLock { $0.lastHeartbeat = accepted }
                onHeartbeat(self, accepted)
            }
        case .goingAway:
            state.withLock { $0.goingAway = true }
        case .head, .data, .end:
            try deliver(frame)
        case .error:
            let message = try frame.decodeJSON(TunnelErrorMessage.self)
            if frame.stream != 0, let stream = state.withLock({ $0.streams.removeValue(forKey: frame.stream) }) {
                stream.fail(message)
            }
        case .renewRequest, .tamperReport:
            onIdentity(self, frame)
        case .hello, .welcome, .open, .cancel, .windowUpdate, .powerLimit, .renewed, .heartbeatAck:
            throw TunnelErrorMessage(code: .unexpectedFrame, message: "a node may not send \(frame.kind) frames")
        }
    }

    private func deliver(_ frame: TunnelFrame) throws {
        guard let stream = state.withLock({ $0.streams[frame.stream] }) else {
            // Frames for a stream the gateway already cancelled are expected in flight; anything
            // else is a confused or hostile node. Either way: tell it, drop the frame, keep going.
            if frame.kind != .end {
                channel.writeAndFlush(TunnelFrame(kind: .cancel, stream: frame.stream), promise: nil)
            }
            return
        }
        do {
            switch frame.kind {
            case .head:
                let head = try StreamMessageCodec.decodeHead(frame)
                guard AnswerAudit.isRelayableStatus(head.status), AnswerAudit.isRelayableContentType(head.contentType, status: head.status)
                else {
                    onLie(self, .unrelayableHead, "status \(head.status)")
                    throw TunnelErrorMessage(
                        code: .unexpectedFrame, message: "stream \(frame.stream): a head the gateway does not relay (status \(head.status))"
                    )
                }
                try stream.receiveHead(head)
            case .data: try stream.receive(.data(frame.payload))
            default:
                try stream.receive(.end(try StreamMessageCodec.decodeEnd(frame)))
                finish(stream)
            }
        } catch let error as TunnelErrorMessage {
            stream.fail(error)
            cancel(stream)
            channel.writeAndFlush(TunnelFrame.json(.error, stream: frame.stream, error), promise: nil)
        }
    }

    /// Seconds since the node last sent anything.
    func silence(now: NIODeadline) -> TimeAmount {
        now - state.withLock { $0.lastHeard }
    }

    package var lastHeartbeat: NodeHeartbeat? { state.withLock { $0.lastHeartbeat } }

    /// Heartbeats this tunnel sent faster than its pace, dropped unread.
    package var heartbeatsUnread: Int { heartbeats.withLock { $0.unread } }

    /// When the node last sent anything, wall clock.
    package var lastHeardDate: Date? {
        let silence = silence(now: .now())
        return Date().addingTimeInterval(-Double(silence.nanoseconds) / 1e9)
    }

    /// Fails every open stream: the tunnel is gone.
    func closed(reason: String) {
        let streams = state.withLock { state in
            state.closed = true
            defer { state.streams.removeAll() }
            return Array(state.streams.values)
        }
        let error = NodeLostError(nodeID: hello.nodeID, reason: reason)
        for stream in streams { stream.fail(error) }
    }
}
