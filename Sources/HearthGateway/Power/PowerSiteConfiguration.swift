public import HearthCore

/// Where each node stands on the grid, as the operator configured it (never as a node claims: a hostile node
/// could otherwise move itself to an emptier transformer).
public struct PowerSiteConfiguration: Sendable {
    /// A node's place: the home that hosts it, its distribution transformer and any further grid groups
    /// (feeder, substation, program) that OpenADR events may target.
    public struct Site: Sendable, Hashable {
        public var homeID: String
        public var transformerID: String?
        public var groups: Set<String>

        public init(homeID: String, transformerID: String? = nil, groups: Set<String> = []) {
            self.homeID = homeID
            self.transformerID = transformerID
            self.groups = groups
        }
    }

    public var transformers: [TransformerAllocator.Transformer] = []
    public var sites: [NodeID: Site] = [:]
    /// Load on a transformer from homes that host no node (an estimate, watts; default 0).
    public var unmanagedLoadWatts: [String: Double] = [:]
    /// A node's home whose load is unknown counts as this much: one 200 A home at its continuous limit.
    public var unknownHomeLoadWatts: Double = 38_400
    /// How often budgets are recomputed and sent.
    public var period: Duration = .seconds(1)
    /// Budgets are resent at least this often even when unchanged (a node that reconnected needs them).
    public var refresh: Duration = .seconds(10)
    public var demandResponse = DemandResponse.Configuration()

    public init() {}

    /// The site of `node`: configured, or a home of its own with no transformer constraint.
    public func site(of node: NodeID) -> Site {
        sites[node] ?? Site(homeID: node.rawValue)
    }

    /// What grid events may name `node` by: its home, its transformer and its groups (which include the OpenADR
    /// targets the sites file gives its site and its transformer).
    public func targetGroups(of node: NodeID) -> Set<String> {
        targetGroups(of: site(of: node))
    }

    func targetGroups(of site: Site) -> Set<String> {
        var groups = site.groups
        groups.insert(site.homeID)
        if let transformer = site.transformerID { groups.insert(transformer) }
        return groups
    }
}
