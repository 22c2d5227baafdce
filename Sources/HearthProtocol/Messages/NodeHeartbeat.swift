/// Periodic liveness and telemetry from a node.
public struct NodeHeartbeat: Codable, Sendable, Equatable {
    /// Increases by one per heartbeat; lets the gateway see gaps.
    public var sequence: UInt64
    /// Streams the node is running now.
    public var activeStreams: Int
    /// Whether the engine answered its last health check.
    public var engineHealthy: Bool

    public init(sequence: UInt64, activeStreams: Int, engineHealthy: Bool) {
        self.sequence = sequence
        self.activeStreams = activeStreams
        self.engineHealthy = engineHealthy
    }

    private enum CodingKeys: String, CodingKey {
        case sequence
        case activeStreams = "active_streams"
        case engineHealthy = "engine_healthy"
    }
}
