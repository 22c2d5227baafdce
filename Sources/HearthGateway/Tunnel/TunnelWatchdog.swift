import HearthProtocol
import HearthTunnel
import Logging
import NIOCore

/// Drops registered nodes that have been silent for too long: one timer for the whole fleet, each interval checking
/// every session's last frame. A timer per tunnel woke an event loop once per node per interval on top of the
/// heartbeats' own reads, a fifth of an idle gateway's work with a hundred nodes (docs/BENCHMARKS.md).
enum TunnelWatchdog {
    /// Starts the check every `interval` on `eventLoop`; cancel the task to stop it. A node silent for more than
    /// `interval × missedBeforeDead` gets an error frame and its tunnel is closed (its streams fail over).
    static func start(
        registry: NodeRegistry, interval: TimeAmount, missedBeforeDead: Int, logger: Logger, on eventLoop: any EventLoop
    ) -> RepeatedTask {
        let limit = interval * Int64(max(1, missedBeforeDead))
        return eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let now = NIODeadline.now()
            for session in registry.sessions() where session.channel.isActive && session.silence(now: now) > limit {
                logger.warning("node missed its heartbeats; dropping it", metadata: ["node": "\(session.id)"])
                let message = TunnelErrorMessage(code: .other, message: "no heartbeat for \(limit.nanoseconds / 1_000_000) ms")
                session.channel.writeAndFlush(TunnelFrame.json(.error, message), promise: nil)
                session.channel.close(promise: nil)
            }
        }
    }
}
