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
        let drained = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await admission.idle()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: drainTime)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if drained {
            logger.notice("drained: every request in flight finished")
        } else {
            logger.warning("drain time over; requests still in flight are cut", metadata: ["in_flight": "\(admission.inFlight)"])
            admission.cutRequestsInFlight()
            // Their usage is settled as the relays see their clients go; the server then stops without waiting on them.
            await admission.idle()
        }
    }
}
