public import HearthCore

/// The first frame a node sends: who it is and what it serves.
public struct NodeHello: Codable, Sendable, Equatable {
    public var protocolVersion: Int
    public var nodeID: NodeID
    public var models: [ServedModel]
    /// `llama`, `sim`, `openai`, ...: informational.
    public var engineKind: String
    public var hardware: HardwareSummary
    /// Requests the engine runs at once (llama-server's `-np`).
    public var slots: Int
    /// What the node measured its engine can do, per model (absent: the gateway assumes a default).
    public var profiles: [NodeProfile]?
    /// What the node found when it tested, at join, whether its engine keeps `cache_salt` partitions apart
    /// (``CacheSaltProbeResult`` raw value). Absent (an older node, or an engine never tested): not honoured.
    public var cacheSaltProbe: String?

    public init(
        protocolVersion: Int = TunnelProtocol.version,
        nodeID: NodeID,
        models: [ServedModel],
        engineKind: String,
        hardware: HardwareSummary,
        slots: Int,
        profiles: [NodeProfile]? = nil,
        cacheSaltProbe: CacheSaltProbeResult? = nil
    ) {
        self.profiles = profiles
        self.cacheSaltProbe = cacheSaltProbe?.rawValue
        self.protocolVersion = protocolVersion
        self.nodeID = nodeID
        self.models = models
        self.engineKind = engineKind
        self.hardware = hardware
        self.slots = slots
    }

    private enum CodingKeys: String, CodingKey {
        case protocolVersion = "protocol_version"
        case nodeID = "node_id"
        case models
        case engineKind = "engine_kind"
        case hardware
        case slots
        case profiles
        case cacheSaltProbe = "cache_salt_probe"
    }

    /// Whether the node showed that its engine honours `cache_salt`; anything else (absent, unknown) is no.
    public var engineHonoursCacheSalt: Bool { cacheSaltProbe == CacheSaltProbeResult.honoured.rawValue }
}

/// What a node runs on, as it reports it.
public struct HardwareSummary: Codable, Sendable, Equatable {
    public var cpuCores: Int
    public var memoryBytes: UInt64
    /// GPU model names, empty on a CPU-only node.
    public var gpus: [String]

    public init(cpuCores: Int, memoryBytes: UInt64, gpus: [String]) {
        self.cpuCores = cpuCores
        self.memoryBytes = memoryBytes
        self.gpus = gpus
    }

    private enum CodingKeys: String, CodingKey {
        case cpuCores = "cpu_cores"
        case memoryBytes = "memory_bytes"
        case gpus
    }
}
