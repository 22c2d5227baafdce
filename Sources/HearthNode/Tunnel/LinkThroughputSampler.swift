import NIOCore

/// Samples the uplink's throughput from the tunnel's own traffic, only while the link is the bottleneck: from the
/// moment the socket stops keeping up (the channel turns unwritable) until it has drained (writable again), the
/// bytes the socket took per second. A trickle of tokens never fills the socket, so it never produces a sample.
///
/// First in the pipeline (next to the socket, below TLS), so it counts the bytes that cross the link.
final class LinkThroughputSampler: ChannelDuplexHandler, @unchecked Sendable {
    // @unchecked: all mutable state is touched only on the channel's event loop.
    typealias InboundIn = NIOAny
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Shorter or smaller episodes say more about scheduling than about the link.
    static let minimumSeconds = 0.05
    static let minimumBytes = 32 << 10

    private let now: @Sendable () -> NIODeadline
    private let sample: @Sendable (_ bytes: Int, _ seconds: Double) -> Void
    private var written = 0
    private var blocked: (since: NIODeadline, written: Int)?

    init(now: @escaping @Sendable () -> NIODeadline = { .now() }, sample: @escaping @Sendable (_ bytes: Int, _ seconds: Double) -> Void) {
        self.now = now
        self.sample = sample
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let size = unwrapOutboundIn(data).readableBytes
        let written = promise ?? context.eventLoop.makePromise()
        written.futureResult.assumeIsolated().whenSuccess { self.written += size }
        context.write(data, promise: written)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if !context.channel.isWritable {
            blocked = (now(), written)
        } else if let episode = blocked {
            blocked = nil
            let seconds = Double((now() - episode.since).nanoseconds) / 1e9
            let bytes = written - episode.written
            if seconds >= Self.minimumSeconds && bytes >= Self.minimumBytes { sample(bytes, seconds) }
        }
        context.fireChannelWritabilityChanged()
    }
}
