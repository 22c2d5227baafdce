/// The gateway's answer to a valid ``NodeHello``: the node is registered.
public struct GatewayWelcome: Codable, Sendable, Equatable {
    public var protocolVersion: Int
    /// How often the node must send a heartbeat. The gateway drops a node that misses
    /// ``missedHeartbeatsBeforeDead`` in a row.
    public var heartbeatIntervalMilliseconds: Int
    public var missedHeartbeatsBeforeDead: Int

    public init(protocolVersion: Int = TunnelProtocol.version, heartbeatIntervalMilliseconds: Int, missedHeartbeatsBeforeDead: Int) {
        self.protocolVersion = protocolVersion
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
        self.missedHeartbeatsBeforeDead = missedHeartbeatsBeforeDead
    }

    private enum CodingKeys: String, CodingKey {
        case protocolVersion = "protocol_version"
        case heartbeatIntervalMilliseconds = "heartbeat_interval_ms"
        case missedHeartbeatsBeforeDead = "missed_heartbeats_before_dead"
    }
}
