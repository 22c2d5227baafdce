import NIOCore

/// Closes a client connection as soon as the client closes its side.
///
/// Hummingbird allows half-closed connections, and NIO's HTTP pipeline holds back the end of input
/// while a response is in flight, so without this a client that hangs up while the node is still
/// prefilling (no bytes written yet) would go unnoticed until the answer was done. Closing turns
/// the hang-up into the channel's close, which cancels the request on its node. (A client that
/// half-closes and still wants its answer is legal HTTP/1.1 but vanishingly rare; like nginx's
/// default, Hearth treats it as an abort.)
final class ClientHangupDetector: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    func handlerAdded(context: ChannelHandlerContext) {
        // Sit in front of the HTTP decoder, which would otherwise defer the event.
        try? context.pipeline.syncOperations.addHandler(InputClosedCloser(), position: .first)
    }

    private final class InputClosedCloser: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case ChannelEvent.inputClosed = event {
                context.close(promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(event)
        }
    }
}
