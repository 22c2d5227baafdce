/// A node's view of its link to the gateway: smoothed RTT and jitter (RFC 6298's SRTT and RTTVAR), loss and
/// available bandwidth as EWMAs, and a degrade detector with hysteresis that says when to drain the node
/// gracefully before the link fails, and when it may serve again.
///
/// Value-type state machine: feed it samples with `now`; it returns ``Action/drain`` once when the link has been
/// bad for ``Configuration/enterHoldSeconds`` and ``Action/restore`` once when it has been good again for
/// ``Configuration/exitHoldSeconds``. "Bad" uses the ``Configuration/degrade`` thresholds, "good" the lower
/// ``Configuration/recover`` ones, so a link hovering at a threshold never flaps.
///
/// Only the link's own evidence counts: a probe answered late because the node's host was busy (its heartbeat
/// timer fired late, ``Sample/hostStall(seconds:)``) has the stall taken off its RTT, and a probe lost while the
/// host was stalling is not a lost probe; a link that cannot be the bottleneck (loopback,
/// ``Configuration/judgesLink`` false) is measured and reported but never drains the node.
public struct LinkQualityEstimator: Sendable {
    public struct Thresholds: Sendable, Hashable {
        public var rttSeconds: Double
        public var jitterSeconds: Double
        public var lossFraction: Double
        /// Bandwidth below this (bytes/s) is bad; nil: not judged.
        public var minBandwidthBytesPerSecond: Double?

        public init(rttSeconds: Double, jitterSeconds: Double, lossFraction: Double, minBandwidthBytesPerSecond: Double? = nil) {
            self.rttSeconds = rttSeconds
            self.jitterSeconds = jitterSeconds
            self.lossFraction = lossFraction
            self.minBandwidthBytesPerSecond = minBandwidthBytesPerSecond
        }
    }

    public struct Configuration: Sendable, Hashable {
        /// Default: RTT 250 ms, jitter 100 ms, loss 5 %, 50 kB/s.
        public var degrade: Thresholds
        /// Default: RTT 150 ms, jitter 50 ms, loss 1 %, 100 kB/s.
        public var recover: Thresholds
        public var enterHoldSeconds: Double
        public var exitHoldSeconds: Double
        /// EWMA weights: RTT 1/8 and RTTVAR 1/4 (RFC 6298), loss 0.1 per probe, bandwidth 0.25 per transfer.
        public var rttGain: Double
        public var jitterGain: Double
        public var lossGain: Double
        public var bandwidthGain: Double
        /// False for a link that cannot be the problem (the gateway on loopback): measured, reported, never drained.
        public var judgesLink: Bool
        /// How long a host stall explains late and missing echoes. Default 10 s.
        public var stallMemorySeconds: Double

        public init(
            degrade: Thresholds = Thresholds(rttSeconds: 0.25, jitterSeconds: 0.1, lossFraction: 0.05, minBandwidthBytesPerSecond: 50_000),
            recover: Thresholds = Thresholds(
                rttSeconds: 0.15, jitterSeconds: 0.05, lossFraction: 0.01, minBandwidthBytesPerSecond: 100_000),
            enterHoldSeconds: Double = 10, exitHoldSeconds: Double = 60, rttGain: Double = 0.125, jitterGain: Double = 0.25,
            lossGain: Double = 0.1, bandwidthGain: Double = 0.25, judgesLink: Bool = true, stallMemorySeconds: Double = 10
        ) {
            self.judgesLink = judgesLink
            self.stallMemorySeconds = stallMemorySeconds
            self.degrade = degrade
            self.recover = recover
            self.enterHoldSeconds = enterHoldSeconds
            self.exitHoldSeconds = exitHoldSeconds
            self.rttGain = rttGain
            self.jitterGain = jitterGain
            self.lossGain = lossGain
            self.bandwidthGain = bandwidthGain
        }
    }

    public enum Sample: Sendable, Hashable {
        /// A probe (heartbeat) answered after `seconds`.
        case rtt(seconds: Double)
        /// A probe got no answer within its timeout.
        case lost
        /// `bytes` moved in `seconds` while the sender was limited by the link (a bulk transfer, not a trickle).
        case transfer(bytes: Int, seconds: Double)
        /// Periodic: lets holds expire without samples.
        case tick
        /// The node's own host ran `seconds` late (a timer fired that much after its time): CPU starvation, which
        /// delays echoes without the link being at fault.
        case hostStall(seconds: Double)
    }

    public enum Action: Sendable, Hashable {
        case drain
        case restore
    }

    /// The estimate to report in telemetry (and for `NodeProfile.linkRTTSeconds`).
    public struct Estimate: Sendable, Hashable, Codable {
        public var rttSeconds: Double?
        public var jitterSeconds: Double?
        public var lossFraction: Double
        public var bandwidthBytesPerSecond: Double?
    }

    public let configuration: Configuration
    public private(set) var estimate = Estimate(rttSeconds: nil, jitterSeconds: nil, lossFraction: 0, bandwidthBytesPerSecond: nil)
    public private(set) var isDegraded = false
    /// Whether the link should be probed at every heartbeat (``LinkProbePacer``): it is degraded, or it lost a probe
    /// recently enough that the loss estimate has not decayed back to nothing.
    public var isInDoubt: Bool { isDegraded || estimate.lossFraction > 0.001 }
    private var badSince: Double?
    private var goodSince: Double?
    /// The largest recent host stall and when it was seen.
    private var stall: (seconds: Double, at: Double)?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public mutating func handle(_ sample: Sample, now: Double) -> [Action] {
        switch sample {
        case .hostStall(let seconds) where seconds.isFinite && seconds > 0:
            let recent = recentStall(now: now)
            stall = (max(seconds, recent), now)
        case .rtt(let measured) where measured.isFinite && measured >= 0:
            // What the host's own stall explains is not the link's.
            let seconds = max(0, measured - recentStall(now: now))
            if let srtt = estimate.rttSeconds, let rttvar = estimate.jitterSeconds {
                estimate.jitterSeconds = (1 - configuration.jitterGain) * rttvar + configuration.jitterGain * abs(srtt - seconds)
                estimate.rttSeconds = (1 - configuration.rttGain) * srtt + configuration.rttGain * seconds
            } else {
                estimate.rttSeconds = seconds
                estimate.jitterSeconds = seconds / 2
            }
            estimate.lossFraction *= 1 - configuration.lossGain
        case .lost where recentStall(now: now) > 0:
            break  // the echo may be sitting unread behind a starved host
        case .lost:
            estimate.lossFraction = (1 - configuration.lossGain) * estimate.lossFraction + configuration.lossGain
        case .transfer(let bytes, let seconds) where seconds > 0 && bytes > 0:
            let rate = Double(bytes) / seconds
            estimate.bandwidthBytesPerSecond =
                estimate.bandwidthBytesPerSecond.map {
                    (1 - configuration.bandwidthGain) * $0 + configuration.bandwidthGain * rate
                } ?? rate
        default:
            break
        }
        return evaluate(now: now)
    }

    /// The stall that still explains delays at `now` (0 when none is recent).
    private func recentStall(now: Double) -> Double {
        guard let stall, now - stall.at <= configuration.stallMemorySeconds else { return 0 }
        return stall.seconds
    }

    private func exceeds(_ t: Thresholds) -> Bool {
        if let rtt = estimate.rttSeconds, rtt > t.rttSeconds { return true }
        if let jitter = estimate.jitterSeconds, jitter > t.jitterSeconds { return true }
        if estimate.lossFraction > t.lossFraction { return true }
        if let floor = t.minBandwidthBytesPerSecond, let bandwidth = estimate.bandwidthBytesPerSecond, bandwidth < floor { return true }
        return false
    }

    private mutating func evaluate(now: Double) -> [Action] {
        guard configuration.judgesLink else { return [] }
        if !isDegraded {
            guard exceeds(configuration.degrade) else {
                badSince = nil
                return []
            }
            let since = badSince ?? now
            badSince = since
            guard now - since >= configuration.enterHoldSeconds else { return [] }
            isDegraded = true
            badSince = nil
            goodSince = nil
            return [.drain]
        }
        guard !exceeds(configuration.recover) else {
            goodSince = nil
            return []
        }
        let since = goodSince ?? now
        goodSince = since
        guard now - since >= configuration.exitHoldSeconds else { return [] }
        isDegraded = false
        goodSince = nil
        return [.restore]
    }
}
