/// Screens the energy intervals one node reports on one tunnel before the ledger credits its home: a value-type state
/// machine, one per tunnel.
///
/// An honest node (``EnergyMeter``) closes aligned intervals in time order and sends each once per tunnel, oldest
/// first (after a reconnect it resends what it retained, still oldest first). So an interval is refused when:
/// - it is malformed or longer than ``Limits/maximumIntervalSeconds`` (`end <= start`, or overflow);
/// - it ends in the future (beyond ``Limits/clockSkewSeconds``) or starts more than ``Limits/maximumAgeSeconds`` ago;
/// - it holds more energy than `maximumDrawWatts` (what the node's declared hardware draws at full load) over its
///   length, or a negative or non-finite amount;
/// - it starts before the end of an interval already accepted on this tunnel (out of order, or overlapping: a node
///   cannot credit the same minute twice by slicing it differently);
/// - it comes faster than the ledger takes intervals: after a first ``Limits/burstIntervals`` (a resent day of
///   minutes), one per ``Limits/secondsPerInterval`` of the gateway's clock.
///
/// Refused intervals are dropped, never summed or trimmed. Overlaps with what the ledger already holds from earlier
/// tunnels are the ledger's to refuse (``EnergyLedgerMerge``).
public struct EnergyIntervalGuard: Sendable {
    public struct Limits: Sendable, Hashable {
        public var maximumIntervalSeconds: Int64
        public var clockSkewSeconds: Int64
        public var maximumAgeSeconds: Int64
        public var burstIntervals: Int
        public var secondsPerInterval: Double

        public init(
            maximumIntervalSeconds: Int64 = 3_600, clockSkewSeconds: Int64 = 300, maximumAgeSeconds: Int64 = 7 * 86_400,
            burstIntervals: Int = 1_440, secondsPerInterval: Double = 1
        ) {
            self.maximumIntervalSeconds = maximumIntervalSeconds
            self.clockSkewSeconds = clockSkewSeconds
            self.maximumAgeSeconds = maximumAgeSeconds
            self.burstIntervals = max(1, burstIntervals)
            self.secondsPerInterval = secondsPerInterval.isFinite && secondsPerInterval > 0 ? secondsPerInterval : 1
        }
    }

    public enum Refusal: String, Sendable, Hashable, CaseIterable {
        case malformed
        case tooLong = "too-long"
        case fromTheFuture = "from-the-future"
        case tooOld = "too-old"
        case moreThanTheHardwareDraws = "more-than-the-hardware-draws"
        case outOfOrder = "out-of-order"
        case tooFrequent = "too-frequent"

        /// Whether no honest node sends it: an ``EnergyMeter`` closes intervals in time order and a tunnel sends each
        /// once. The others may come from a wrong clock or a bad sensor.
        public var isProvableLie: Bool { self == .outOfOrder }
    }

    public struct Screening: Sendable, Equatable {
        public var accepted: [EnergyMeter.Interval] = []
        /// Refused intervals by reason.
        public var refused: [Refusal: Int] = [:]

        public var refusedCount: Int { refused.values.reduce(0, +) }
        /// Refused intervals that no honest node sends (``Refusal/isProvableLie``).
        public var provableLies: Int { refused.filter(\.key.isProvableLie).values.reduce(0, +) }
    }

    public let limits: Limits
    /// End of the latest interval accepted on this tunnel.
    private var acceptedUntil: Int64?
    /// Intervals the tunnel may still send now (a token bucket), and when it was last topped up (gateway seconds).
    private var allowance: Double
    private var allowanceAt: Double?

    public init(limits: Limits = Limits()) {
        self.limits = limits
        allowance = Double(limits.burstIntervals)
    }

    /// Screens one heartbeat's intervals, in the order the node sent them.
    /// - Parameters:
    ///   - maximumDrawWatts: the most the node's declared hardware draws, watts.
    ///   - now: the gateway's wall clock, Unix seconds (for future and age).
    ///   - monotonicSeconds: the gateway's monotonic clock, seconds (for the rate).
    public mutating func screen(
        _ intervals: [EnergyMeter.Interval], maximumDrawWatts: Double, now: Int64, monotonicSeconds: Double
    ) -> Screening {
        refill(at: monotonicSeconds)
        var screening = Screening()
        for interval in intervals {
            if let refusal = Self.refusal(of: interval, maximumDrawWatts: maximumDrawWatts, now: now, limits: limits) {
                screening.refused[refusal, default: 0] += 1
            } else if let until = acceptedUntil, interval.start < until {
                screening.refused[.outOfOrder, default: 0] += 1
            } else if allowance < 1 {
                screening.refused[.tooFrequent, default: 0] += 1
            } else {
                allowance -= 1
                acceptedUntil = interval.end
                screening.accepted.append(interval)
            }
        }
        return screening
    }

    /// What is wrong with `interval` on its own, or nil when it could be true.
    public static func refusal(of interval: EnergyMeter.Interval, maximumDrawWatts: Double, now: Int64, limits: Limits) -> Refusal? {
        let (seconds, overflow) = interval.end.subtractingReportingOverflow(interval.start)
        guard !overflow, seconds > 0 else { return .malformed }
        guard seconds <= limits.maximumIntervalSeconds else { return .tooLong }
        guard interval.end <= now &+ limits.clockSkewSeconds else { return .fromTheFuture }
        guard interval.start >= now &- limits.maximumAgeSeconds else { return .tooOld }
        let draw = maximumDrawWatts.isFinite ? max(0, maximumDrawWatts) : 0
        // A relative hair of slack: the node's meter sums floating-point steps that may round past the exact bound.
        let most = draw * Double(seconds) / 3_600 * (1 + 1e-9)
        guard interval.wattHours.isFinite, interval.wattHours >= 0, interval.wattHours <= most else { return .moreThanTheHardwareDraws }
        // The battery's share is part of the draw: more than all of it, or less than none, is no reading.
        if let battery = interval.batteryWattHours {
            guard battery.isFinite, battery >= 0, battery <= interval.wattHours * (1 + 1e-9) else { return .malformed }
        }
        return nil
    }

    private mutating func refill(at seconds: Double) {
        guard seconds.isFinite else { return }
        if let last = allowanceAt, seconds > last {
            allowance = min(Double(limits.burstIntervals), allowance + (seconds - last) / limits.secondsPerInterval)
        }
        if allowanceAt.map({ seconds > $0 }) ?? true { allowanceAt = seconds }
    }
}
