/// Integrates a node's measured draw into fixed, closed energy intervals (kWh for the host's credit).
///
/// Feed it a sample whenever the draw is measured (the node agent: once a second); each sample's draw is
/// taken to hold until the next one (a step function, as a 1 Hz meter reads). Intervals are aligned to
/// multiples of ``intervalSeconds`` in the caller's clock (Unix seconds), so a node that restarts produces the
/// same interval boundaries and the gateway can store each interval once by its start. A gap longer than
/// ``maximumGapSeconds`` between samples (the agent was stopped) is not integrated: unknown is not billed.
public struct EnergyMeter: Sendable {
    public struct Interval: Sendable, Hashable {
        public var start: Int64
        public var end: Int64
        public var wattHours: Double
        /// Of ``wattHours``, what came from the node's battery (nil: a node without one); the rest came from the grid.
        public var batteryWattHours: Double?

        public init(start: Int64, end: Int64, wattHours: Double, batteryWattHours: Double? = nil) {
            self.start = start
            self.end = end
            self.wattHours = wattHours
            self.batteryWattHours = batteryWattHours
        }

        /// What the node drew from the grid in the interval.
        public var gridWattHours: Double { max(0, wattHours - (batteryWattHours ?? 0)) }
    }

    public let intervalSeconds: Int64
    public let maximumGapSeconds: Double
    private var last: (at: Double, watts: Double, battery: Double?)?
    private var open: (start: Int64, wattHours: Double, battery: Double?)?

    public init(intervalSeconds: Int64 = 60, maximumGapSeconds: Double = 10) {
        self.intervalSeconds = max(1, intervalSeconds)
        self.maximumGapSeconds = maximumGapSeconds
    }

    /// Records that the node draws `watts` from `at` on, `batteryWatts` of them from its battery (nil: it has none);
    /// returns the intervals this sample closed.
    public mutating func record(watts: Double, batteryWatts: Double? = nil, at: Double) -> [Interval] {
        let watts = watts.isFinite ? max(0, watts) : 0
        let battery = batteryWatts.map { $0.isFinite ? min(max(0, $0), watts) : 0 }
        guard at.isFinite else { return [] }
        defer { last = (at, watts, battery) }
        guard let previous = last, at > previous.at else { return [] }
        if at - previous.at > maximumGapSeconds {
            // Unknown draw over the gap: close what was open and start afresh.
            return closeOpen()
        }
        var closed: [Interval] = []
        var t = previous.at
        while t < at {
            let start = Int64((t / Double(intervalSeconds)).rounded(.down)) * intervalSeconds
            if let current = open, current.start != start { closed += closeOpen() }
            if open == nil { open = (start, 0, nil) }
            let boundary = Double(start + intervalSeconds)
            let until = min(at, boundary)
            open!.wattHours += previous.watts * (until - t) / 3600
            if let battery = previous.battery { open!.battery = (open!.battery ?? 0) + battery * (until - t) / 3600 }
            t = until
            if until == boundary { closed += closeOpen() }
        }
        return closed
    }

    private mutating func closeOpen() -> [Interval] {
        guard let current = open else { return [] }
        open = nil
        return [
            Interval(
                start: current.start, end: current.start + intervalSeconds, wattHours: current.wattHours,
                batteryWattHours: current.battery.map { min($0, current.wattHours) })
        ]
    }
}
