/// Periodic liveness and telemetry from a node.
public struct NodeHeartbeat: Codable, Sendable, Equatable {
    /// Increases by one per heartbeat; lets the gateway see gaps.
    public var sequence: UInt64
    /// Streams the node is running now for this gateway (on this tunnel).
    public var activeStreams: Int
    /// Streams the node is running now for other gateways, on its other tunnels (a node on several replicas reports
    /// its whole load on each, so that every replica's scheduler sees it; absent from a node with one tunnel).
    public var otherGatewayStreams: Int?
    /// Whether the engine answered its last health check.
    public var engineHealthy: Bool
    /// Power status, when the node has a panel and governor (absent: a site without one).
    public var power: NodePowerReport?
    /// Closed energy intervals not yet sent on this tunnel (recent ones are resent after a reconnect).
    public var energy: [EnergyInterval]?
    /// The node's measurement of its link to the gateway (absent from nodes that do not measure it).
    public var link: LinkReport?

    public init(
        sequence: UInt64, activeStreams: Int, engineHealthy: Bool, power: NodePowerReport? = nil, energy: [EnergyInterval]? = nil,
        link: LinkReport? = nil, otherGatewayStreams: Int? = nil
    ) {
        self.link = link
        self.otherGatewayStreams = otherGatewayStreams
        self.sequence = sequence
        self.activeStreams = activeStreams
        self.engineHealthy = engineHealthy
        self.power = power
        self.energy = energy
    }

    private enum CodingKeys: String, CodingKey {
        case sequence
        case activeStreams = "active_streams"
        case otherGatewayStreams = "other_gateway_streams"
        case engineHealthy = "engine_healthy"
        case power
        case energy
        case link
    }
}
