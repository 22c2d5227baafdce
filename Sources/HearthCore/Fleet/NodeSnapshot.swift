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
    /// Whether no answer has confirmed the node's profiles yet (they come from its calibration at join, which a busy
    /// machine can make pessimistic): the SLO-aware policy then explores it while it is idle
    /// (``DecisionReason/exploring(hopedMargin:)``).
    public var profileUnconfirmed: Bool

    public init(
        id: NodeID, models: [ServedModel], profiles: [NodeProfile], load: NodeLoad = NodeLoad(),
        prefixCache: PrefixCache? = nil, labels: [String: String] = [:], profileUnconfirmed: Bool = false
    ) {
        self.id = id
        self.models = models
        self.profiles = profiles
        self.load = load
        self.prefixCache = prefixCache ?? PrefixCache(capacity: profiles.map(\.prefixCacheBlocks).max() ?? 0)
        self.labels = labels
        self.profileUnconfirmed = profileUnconfirmed
    }

    public func profile(for model: String) -> NodeProfile? {
        profiles.first { $0.model == model }
    }
}
