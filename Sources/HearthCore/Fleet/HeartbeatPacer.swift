/// Decides which of a node's heartbeats the gateway reads: a token bucket per tunnel, so a node that floods
/// heartbeats costs the gateway a counter per frame, not a decode, a scheduler update and a ledger write.
///
/// An honest node sends one heartbeat per interval (it sleeps a full interval after each send), so it never runs
/// faster than ``ratePerInterval`` for long; ``burst`` absorbs heartbeats that a slow link delivered together.
public struct HeartbeatPacer: Sendable {
    public let intervalSeconds: Double
    /// Heartbeats per interval allowed on average.
    public let ratePerInterval: Double
    public let burst: Double
    private var tokens: Double
    private var last: Double?

    public init(intervalSeconds: Double, ratePerInterval: Double = 2, burst: Int = 8) {
        self.intervalSeconds = intervalSeconds.isFinite && intervalSeconds > 0 ? intervalSeconds : 1
        self.ratePerInterval = ratePerInterval.isFinite && ratePerInterval > 0 ? ratePerInterval : 2
        self.burst = Double(max(1, burst))
        tokens = self.burst
    }

    /// Whether to read a heartbeat that arrived at `now` (monotonic seconds).
    public mutating func admit(now: Double) -> Bool {
        if let last, now.isFinite, now > last {
            tokens = min(burst, tokens + (now - last) / intervalSeconds * ratePerInterval)
        }
        if now.isFinite, last.map({ now > $0 }) ?? true { last = now }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
