import NIOCore
import NIOPosix

/// A bare TCP connection for tests that must control the socket itself: send raw bytes, read what
/// arrives, and close mid-response the way a vanishing client does.
final class RawConnection: Sendable {
    let channel: any Channel
    let received: AsyncStream<ByteBuffer>

    private final class Forwarder: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let continuation: AsyncStream<ByteBuffer>.Continuation
        init(_ continuation: AsyncStream<ByteBuffer>.Continuation) { self.continuation = continuation }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
    }

    private init(channel: any Channel, received: AsyncStream<ByteBuffer>) {
        self.channel = channel
        self.received = received
    }

    static func connect(host: String, port: Int) async throws -> RawConnection {
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Forwarder(continuation)) }
            }
            .connect(host: host, port: port)
            .get()
        return RawConnection(channel: channel, received: stream)
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    /// Reads until the text received so far contains `marker` (or an error body, or the connection
    /// closes); returns it all.
    func read(until marker: String) async -> String {
        var text = ""
        for await chunk in received {
            text += String(buffer: chunk)
            if text.contains(marker) || text.contains("\"error\"") { break }
        }
        return text
    }

    func close() async throws {
        try await channel.close()
    }
}
