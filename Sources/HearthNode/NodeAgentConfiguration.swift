public import HearthCore
public import HearthProtocol

/// Settings for one node agent. Every field but the identity and gateway address has a default.
public struct NodeAgentConfiguration: Sendable {
    public var nodeID: NodeID
    public var gatewayHost: String
    public var gatewayPort: Int
    public var hardware: HardwareSummary
    /// First reconnect delay; doubles per failed attempt up to ``maximumReconnectDelay``, with jitter.
    public var initialReconnectDelay: Duration = .milliseconds(100)
    public var maximumReconnectDelay: Duration = .seconds(10)
    /// Largest frame accepted from the gateway (request bodies travel in one frame).
    public var maximumFrameBytes = 32 << 20
    /// Bytes per data frame sent to the gateway.
    public var dataChunkBytes = 64 << 10
    /// Mutual TLS with a certificate from the fleet CA (nil: a plain tunnel, for tests and development).
    public var identity: NodeIdentityConfiguration?
    /// Tamper signals to watch (nil: none).
    public var tamperSensor: (any TamperSensor)?
    /// How often the agent checks whether its certificate is due for renewal.
    public var renewalCheckInterval: Duration = .seconds(30)
    /// When the node's link to the gateway counts as degraded (then it takes no new work) and when as recovered.
    public var linkQuality = LinkQualityEstimator.Configuration()
    /// Whether a link to a gateway on this machine may drain the node. Default false: loopback cannot be the
    /// bottleneck, only a busy host can look like one. Tests that script a bad link on loopback set it.
    public var judgesLoopbackLink = false

    public init(nodeID: NodeID, gatewayHost: String, gatewayPort: Int, hardware: HardwareSummary) {
        self.nodeID = nodeID
        self.gatewayHost = gatewayHost
        self.gatewayPort = gatewayPort
        self.hardware = hardware
    }
}
