public import HearthCore
public import HearthProtocol

/// Settings for one node agent. Every field but the identity and gateway address has a default.
public struct NodeAgentConfiguration: Sendable {
    public var nodeID: NodeID
    /// The gateway replicas the node may dial (a name stands for every address it resolves to).
    public var gateways: [GatewayEndpoint]
    /// How many of them the node keeps a tunnel to at once (each replica once at most): losing one leaves the others
    /// serving while the agent dials a replacement.
    public var gatewayConnections = 2
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

    public init(nodeID: NodeID, gateways: [GatewayEndpoint], hardware: HardwareSummary) {
        self.nodeID = nodeID
        self.gateways = gateways
        self.hardware = hardware
    }

    public init(nodeID: NodeID, gatewayHost: String, gatewayPort: Int, hardware: HardwareSummary) {
        self.init(nodeID: nodeID, gateways: [GatewayEndpoint(host: gatewayHost, port: gatewayPort)], hardware: hardware)
    }

    /// The first configured gateway's host.
    public var gatewayHost: String { gateways.first?.host ?? "" }
}
