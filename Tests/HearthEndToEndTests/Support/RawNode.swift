import HearthCore
import HearthProtocol
import HearthTunnel
import NIOCore
import NIOPosix
import NIOSSL

/// A hand-driven node tunnel for protocol tests: it sends exactly the frames a test writes, which
/// may be malformed or hostile, and exposes what the gateway sends back.
final class RawNode: Sendable {
    let channel: any Channel
    let frames: AsyncStream<TunnelFrame>

    private final class Inbox: ChannelInboundHandler, Sendable {
        typealias InboundIn = TunnelFrame
        let continuation: AsyncStream<TunnelFrame>.Continuation
        let keepsEchoes: Bool
        init(_ continuation: AsyncStream<TunnelFrame>.Continuation, keepsEchoes: Bool) {
            self.continuation = continuation
            self.keepsEchoes = keepsEchoes
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            // The gateway echoes the heartbeats that ask (the agent's link probe); most hand-driven nodes measure nothing.
            let frame = unwrapInboundIn(data)
            if keepsEchoes || frame.kind != .heartbeatAck { continuation.yield(frame) }
        }
        func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    private init(channel: any Channel, frames: AsyncStream<TunnelFrame>) {
        self.channel = channel
        self.frames = frames
    }

    /// - Parameter tls: speak mutual TLS with these client settings (an enrolled node's, or a forged one's).
    /// - Parameter keepsEchoes: hand the gateway's heartbeat echoes to the test too.
    static func connect(port: Int, tls: NIOSSLContext? = nil, keepsEchoes: Bool = false) async throws -> RawNode {
        let (frames, continuation) = AsyncStream<TunnelFrame>.makeStream()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(TunnelFrameDecoder(maximumFrameBytes: 64 << 20)),
                        MessageToByteHandler(TunnelFrameEncoder()),
                        Inbox(continuation, keepsEchoes: keepsEchoes),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return RawNode(channel: channel, frames: frames)
    }

    static func hello(
        id: String, model: String = "test-model", version: Int = TunnelProtocol.version, slots: Int = 2, profiles: [NodeProfile]? = nil
    ) -> NodeHello {
        NodeHello(
            protocolVersion: version,
            nodeID: NodeID(id),
            models: [ServedModel(id: model, contextTokens: 4096)],
            engineKind: "raw",
            hardware: HardwareSummary(cpuCores: 1, memoryBytes: 1, gpus: []),
            slots: slots,
            profiles: profiles
        )
    }

    func send(_ frame: TunnelFrame) async throws {
        try await channel.writeAndFlush(frame)
    }

    /// Writes bytes that bypass the frame encoder.
    func sendRaw(_ bytes: ByteBuffer) async throws {
        try await channel.pipeline.context(handlerType: MessageToByteHandler<TunnelFrameEncoder>.self).flatMap { context in
            context.writeAndFlush(NIOAny(bytes))
        }.get()
    }

    /// Ends this side's output (the gateway sees end of file) and waits until the connection closes.
    func closeOutput() async {
        try? await channel.close(mode: .output)
    }
}
