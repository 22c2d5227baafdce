/// Everything the scheduler knows about one node: identity, what it serves and how fast, and its live state.
///
/// The gateway fills these from its registry and telemetry and keeps them in a ``FleetState``.
public struct NodeSnapshot: Sendable {
    public var id: NodeID
    public var models: [ServedModel]
    /// One profile per served model (matched by `NodeProfile.model == ServedModel.id`).
    public var profiles: [NodeProfile]
    public var load: NodeLoad
    public var prefixCache: PrefixCache
    /// Free-form attributes for pluggable ``NodeFilter``s (data class, site, tamper state…).
    public var labels: [String: String]

    public init(
        id: NodeID, models: [ServedModel], profiles: [NodeProfile], load: NodeLoad = NodeLoad(),
        prefixCache: PrefixCache? = nil, labels: [String: String] = [:]
    ) {
        self.id = id
        self.models = models
        self.profiles = profiles
        self.load = load
        self.prefixCache = prefixCache ?? PrefixCache(capacity: profiles.map(\.prefixCacheBlocks).max() ?? 0)
        self.labels = labels
    }

    public func profile(for model: String) -> NodeProfile? {
        profiles.first { $0.model == model }
    }
}
