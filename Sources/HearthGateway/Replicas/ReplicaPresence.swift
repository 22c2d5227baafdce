import Logging
import ServiceLifecycle

/// Where gateway replicas on one store announce themselves, so that each knows how many serve the fleet now.
protocol ReplicaRoll: Sendable {
    /// Records `replica` as serving now; returns how many replicas did so within the last `window` seconds (the store's
    /// clock, so replicas' clocks need not agree).
    func announce(_ replica: String, window: Double) async throws -> Int
    /// Takes `replica` off the roll (it drains or stops): the others' shares grow at their next announcement.
    func withdraw(_ replica: String) async throws
}

/// Announces this replica every second and tells its tenant limiter how many replicas share the fleet, so that each
/// enforces its share of every tenant's limits (``TenantPolicy/share(among:)``). A replica that drains withdraws at
/// once; one that dies drops off within ``window`` seconds. While the store cannot be reached, the last count holds.
final class ReplicaPresence: Service {
    static let window = 3.0
    private let roll: any ReplicaRoll
    private let limiter: TenantLimiter
    private let admission: RequestAdmission
    private let replica: String
    private let logger: Logger

    init(roll: any ReplicaRoll, limiter: TenantLimiter, admission: RequestAdmission, logger: Logger) {
        self.roll = roll
        self.limiter = limiter
        self.admission = admission
        var generator = SystemRandomNumberGenerator()
        replica = "gateway-" + String(generator.next(), radix: 16)
        self.logger = logger
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled && !self.admission.isDraining {
                await self.announce()
                do { try await Task.sleep(for: .seconds(1)) } catch { break }
            }
        }
        do { try await roll.withdraw(replica) } catch {
            logger.warning("could not withdraw from the replicas' roll", metadata: ["error": "\(error)"])
        }
    }

    private func announce() async {
        do {
            let count = try await roll.announce(replica, window: Self.window)
            if count != limiter.liveReplicas {
                logger.notice("replicas serving the fleet", metadata: ["count": "\(count)"])
            }
            limiter.setLiveReplicas(count)
        } catch {
            logger.warning("could not announce this replica", metadata: ["error": "\(error)"])
        }
    }
}
