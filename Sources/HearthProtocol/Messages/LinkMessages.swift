/// A node's measurement of its link to the gateway, carried in its heartbeats.
public struct LinkReport: Codable, Sendable, Equatable {
    /// Smoothed heartbeat round trip (absent until the first echo).
    public var rttMilliseconds: Double?
    public var jitterMilliseconds: Double?
    /// Share of recent heartbeats that got no echo in time, 0…1.
    public var loss: Double
    /// Uplink throughput measured while the link was the bottleneck (absent until such a moment).
    public var bandwidthBytesPerSecond: Double?
    /// Whether the node judges its link too poor to take new work (it finishes what it runs).
    public var degraded: Bool

    public init(rttMilliseconds: Double?, jitterMilliseconds: Double?, loss: Double, bandwidthBytesPerSecond: Double? = nil, degraded: Bool)
    {
        self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
        self.rttMilliseconds = rttMilliseconds
        self.jitterMilliseconds = jitterMilliseconds
        self.loss = loss
        self.degraded = degraded
    }

    private enum CodingKeys: String, CodingKey {
        case rttMilliseconds = "rtt_ms"
        case jitterMilliseconds = "jitter_ms"
        case loss
        case bandwidthBytesPerSecond = "bandwidth_bytes_per_second"
        case degraded
    }
}
