import HearthProtocol
import HearthTunnel
import Logging
import NIOCore
import ServiceLifecycle

/// The first thing a gateway does when told to stop (SIGTERM, SIGINT): drain instead of drop.
///
/// It runs last in the gateway's services, so the service group shuts it down first and the HTTP server and the node
/// tunnels only after it returns. On shutdown it stops taking requests (`/readyz` answers 503 at once, a new request
/// gets a 503 with `Retry-After`), tells every connected node that this gateway is going away, and waits until the
/// requests in flight have finished or `drainTime` has passed, whichever comes first. Past it, it closes the
/// connections of the clients still served (their streams are cut, their usage settled as a hang-up's) so that the
/// server and the tunnels stop without waiting on them.
struct GatewayDrain: Service {
    let admission: RequestAdmission
    let registry: NodeRegistry
    let drainTime: Duration
    let logger: Logger

    func run() async throws {
        // Cancelled instead of shut down gracefully: nothing to drain into.
        guard (try? await gracefulShutdown()) != nil else { return }
        admission.beginDrain()
        for session in registry.sessions() {
            session.channel.writeAndFlush(TunnelFrame(kind: .goingAway), promise: nil)
        }
        let waiting = admission.inFlight
        logger.notice("draining", metadata: ["in_flight": "\(waiting)", "drain_seconds": "\(drainTime)"])
        if await Self.first(of: { await admission.idle() }, within: drainTime) {
            logger.notice("drained: every request in flight finished")
        } else {
            logger.warning("drain time over; requests still in flight are cut", metadata: ["in_flight": "\(admission.inFlight)"])
            admission.cutRequestsInFlight()
            // Their usage is settled as the relays see their clients go; the server then stops without waiting on them.
            // Bounded too: a request that never settles must not hold the replica up for ever (it is logged).
            if await !Self.first(of: { await admission.idle() }, within: .seconds(5)) {
                logger.error("requests still unsettled after the cut", metadata: ["in_flight": "\(admission.inFlight)"])
            }
        }
    }

    /// Whether `work` returns within `time` (it is cancelled otherwise; it must return when cancelled).
    private static func first(of work: @escaping @Sendable () async -> Void, within time: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await work()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: time)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
