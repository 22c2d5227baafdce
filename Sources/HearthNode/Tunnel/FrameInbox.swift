import HearthTunnel
import NIOCore
import Synchronization

/// Hands frames from the channel to the agent's connection task as an async sequence, except the frames of running
/// streams: once the gateway has welcomed the node, those go straight to ``streamFrames`` on the event loop, so a
/// request, its window updates and its cancellation reach the engine relay without a thread hand-off.
final class FrameInbox: ChannelInboundHandler, Sendable {
    typealias InboundIn = TunnelFrame

    let frames: AsyncThrowingStream<TunnelFrame, any Error>
    private let continuation: AsyncThrowingStream<TunnelFrame, any Error>.Continuation
    private let state = Mutex<State>(State())

    private struct State {
        var welcomed = false
        var streamFrames: (@Sendable (TunnelFrame) -> Void)?
    }

    init() {
        (frames, continuation) = AsyncThrowingStream.makeStream()
    }

    /// Where stream frames go after the welcome (the tunnel's handler).
    func routeStreamFrames(to handler: @escaping @Sendable (TunnelFrame) -> Void) {
        state.withLock { $0.streamFrames = handler }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let direct = state.withLock { state -> (@Sendable (TunnelFrame) -> Void)? in
            switch frame.kind {
            case .welcome:
                state.welcomed = true
                return nil
            case .open, .cancel, .windowUpdate, .heartbeatAck:
                return state.welcomed ? state.streamFrames : nil
            default:
                return nil
            }
        }
        if let direct { direct(frame) } else { continuation.yield(frame) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish(throwing: error)
        context.close(promise: nil)
    }
}
