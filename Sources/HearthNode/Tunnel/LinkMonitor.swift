import Foundation
import HearthCore
import HearthProtocol
import Synchronization

/// Measures the node's link to the gateway from its heartbeats: each heartbeat is a probe the gateway echoes at
/// once, so its round trip is the link's RTT (plus a little gateway scheduling); a heartbeat not echoed within
/// two heartbeat intervals counts as lost. ``LinkQualityEstimator`` smooths the samples and decides when to drain the node
/// (it stops taking new work and finishes what it runs) and when it may serve again.
///
/// One per agent, so a link that flaps does not start clean at every reconnect.
final class LinkMonitor: Sendable {
    private let state: Mutex<State>

    private struct State {
        var estimator: LinkQualityEstimator
        var outstanding: [UInt64: ContinuousClock.Instant] = [:]
    }

    init(configuration: LinkQualityEstimator.Configuration) {
        state = Mutex(State(estimator: LinkQualityEstimator(configuration: configuration)))
    }

    /// See ``LinkQualityEstimator/isInDoubt``.
    var isInDoubt: Bool { state.withLock { $0.estimator.isInDoubt } }

    /// Whether the link is degraded now: new streams are refused (`not_admitting`) until it recovers.
    var isDegraded: Bool { state.withLock { $0.estimator.isDegraded } }

    /// A heartbeat left (a probe when it asked for an echo); earlier probes older than `lossAfter` without an echo are
    /// counted lost now (a late echo is then ignored).
    func sent(_ sequence: UInt64, probe: Bool, at now: ContinuousClock.Instant, lossAfter: Duration) {
        state.withLock { state in
            let overdue = state.outstanding.filter { now - $0.value > lossAfter }
            for (key, _) in overdue {
                state.outstanding[key] = nil
                _ = state.estimator.handle(.lost, now: Self.seconds(now))
            }
            // A new tunnel restarts sequences at 1: probes of the old one can no longer be answered.
            if sequence == 1 { state.outstanding.removeAll() }
            if probe { state.outstanding[sequence] = now }
            _ = state.estimator.handle(.tick, now: Self.seconds(now))
        }
    }

    /// The gateway echoed `sequence`.
    func echoed(_ sequence: UInt64, at now: ContinuousClock.Instant) {
        state.withLock { state in
            guard let sent = state.outstanding.removeValue(forKey: sequence) else { return }
            _ = state.estimator.handle(.rtt(seconds: (now - sent).seconds), now: Self.seconds(now))
        }
    }

    /// The node's host ran `seconds` late (its heartbeat timer fired late): delays it explains are not the link's.
    func hostStalled(seconds: Double, at now: ContinuousClock.Instant) {
        state.withLock { state in _ = state.estimator.handle(.hostStall(seconds: seconds), now: Self.seconds(now)) }
    }

    /// The link carried `bytes` in `seconds` while it was the bottleneck (``LinkThroughputSampler``).
    func transferred(bytes: Int, seconds: Double, at now: ContinuousClock.Instant) {
        state.withLock { state in _ = state.estimator.handle(.transfer(bytes: bytes, seconds: seconds), now: Self.seconds(now)) }
    }

    /// What the next heartbeat reports.
    func report() -> LinkReport {
        state.withLock { state in
            let estimate = state.estimator.estimate
            return LinkReport(
                rttMilliseconds: estimate.rttSeconds.map { $0 * 1000 }, jitterMilliseconds: estimate.jitterSeconds.map { $0 * 1000 },
                loss: estimate.lossFraction, bandwidthBytesPerSecond: estimate.bandwidthBytesPerSecond, degraded: state.estimator.isDegraded
            )
        }
    }

    /// Whether `host` names this machine: `localhost`, 127.0.0.0/8 or ::1.
    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    private static let origin = ContinuousClock.now
    private static func seconds(_ instant: ContinuousClock.Instant) -> Double { (instant - origin).seconds }
}
