import HearthTunnel
import NIOCore

/// Hands frames from the channel to the agent's connection task as an async sequence.
final class FrameInbox: ChannelInboundHandler, Sendable {
    typealias InboundIn = TunnelFrame

    let frames: AsyncThrowingStream<TunnelFrame, any Error>
    private let continuation: AsyncThrowingStream<TunnelFrame, any Error>.Continuation

    init() {
        (frames, continuation) = AsyncThrowingStream.makeStream()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
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
