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

        public init(start: Int64, end: Int64, wattHours: Double) {
            self.start = start
            self.end = end
            self.wattHours = wattHours
        }
    }

    public let intervalSeconds: Int64
    public let maximumGapSeconds: Double
    private var last: (at: Double, watts: Double)?
    private var open: (start: Int64, wattHours: Double)?

    public init(intervalSeconds: Int64 = 60, maximumGapSeconds: Double = 10) {
        self.intervalSeconds = max(1, intervalSeconds)
        self.maximumGapSeconds = maximumGapSeconds
    }

    /// Records that the node draws `watts` from `at` on; returns the intervals this sample closed.
    public mutating func record(watts: Double, at: Double) -> [Interval] {
        let watts = watts.isFinite ? max(0, watts) : 0
        guard at.isFinite else { return [] }
        defer { last = (at, watts) }
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
            if open == nil { open = (start, 0) }
            let boundary = Double(start + intervalSeconds)
            let until = min(at, boundary)
            open!.wattHours += previous.watts * (until - t) / 3600
            t = until
            if until == boundary { closed += closeOpen() }
        }
        return closed
    }

    private mutating func closeOpen() -> [Interval] {
        guard let current = open else { return [] }
        open = nil
        return [Interval(start: current.start, end: current.start + intervalSeconds, wattHours: current.wattHours)]
    }
}
