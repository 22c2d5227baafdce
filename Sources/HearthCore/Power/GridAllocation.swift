/// The grid side of Hearth's power, in one place: how the nodes of a fleet share what the grid lets them draw. The
/// gateway's power coordinator and the simulator's week of homes both call it, so the simulated fleet runs the code
/// that allocates for real homes; each node's ``PowerGovernor`` then takes its limit.
///
/// Two steps, a pure function of the nodes as reported and the grid events:
/// 1. **Grid events** (``DemandResponse``): each node's cap, the least of the events in force that target it (by id,
///    home, transformer or group; an import capacity limit counts the node's home).
/// 2. **Transformers** (``TransformerAllocator``): on each, the homes' own loads first (an unknown one counts as
///    ``unknownHomeLoadWatts``), and load from homes without a node; the nodes share the rest, each asking for
///    min(its full draw, its home's budget, its grid cap), with its floor from the grid (a charged battery lowers it:
///    ``PowerGovernor/gridFloorWatts``).
public struct GridAllocation: Sendable {
    /// A node as the allocation sees it: where it stands and what it last reported.
    public struct Node: Sendable, Hashable {
        public var id: String
        /// What grid events may name it by: its home, its transformer, its groups.
        public var groups: Set<String>
        public var transformerID: String?
        /// Full draw, watts (0 when it has not reported).
        public var fullWatts: Double
        /// The least grid power it can run at, watts.
        public var gridFloorWatts: Double
        /// Its home's own load, watts; nil when unknown.
        public var homeLoadWatts: Double?
        /// Its home's budget for the node (the panel's headroom), watts; nil when unknown (then it gets none).
        public var homeBudgetWatts: Double?

        public init(
            id: String, groups: Set<String> = [], transformerID: String? = nil, fullWatts: Double, gridFloorWatts: Double = 0,
            homeLoadWatts: Double?, homeBudgetWatts: Double?
        ) {
            self.id = id
            self.groups = groups
            self.transformerID = transformerID
            self.fullWatts = fullWatts
            self.gridFloorWatts = gridFloorWatts
            self.homeLoadWatts = homeLoadWatts
            self.homeBudgetWatts = homeBudgetWatts
        }
    }

    /// One node's limits: its transformer share and its grid cap, watts (nil: none binds).
    public struct Limit: Sendable, Hashable {
        public var transformerBudgetWatts: Double?
        public var gridCapWatts: Double?

        public init(transformerBudgetWatts: Double? = nil, gridCapWatts: Double? = nil) {
            self.transformerBudgetWatts = transformerBudgetWatts
            self.gridCapWatts = gridCapWatts
        }
    }

    public var transformers: [TransformerAllocator.Transformer]
    /// Load on a transformer from homes that host no node, watts, by transformer id.
    public var unmanagedLoadWatts: [String: Double]
    /// What a home whose load is unknown counts as, watts (a 200 A home at its continuous limit: 38.4 kW).
    public var unknownHomeLoadWatts: Double
    public var demandResponse: DemandResponse

    public init(
        transformers: [TransformerAllocator.Transformer], unmanagedLoadWatts: [String: Double] = [:], unknownHomeLoadWatts: Double = 38_400,
        demandResponse: DemandResponse = DemandResponse()
    ) {
        self.transformers = transformers
        self.unmanagedLoadWatts = unmanagedLoadWatts
        self.unknownHomeLoadWatts = unknownHomeLoadWatts
        self.demandResponse = demandResponse
    }

    /// Every node's limits at `t`, in `nodes`' order.
    public func allocate(_ nodes: [Node], events: [GridEvent], at t: Double) -> [Limit] {
        budgets(nodes, gridCaps: gridCaps(nodes, events: events, at: t))
    }

    /// Step 1: each node's grid cap at `t` (nil: no event binds it).
    public func gridCaps(_ nodes: [Node], events: [GridEvent], at t: Double) -> [Double?] {
        guard !events.isEmpty else { return [Double?](repeating: nil, count: nodes.count) }
        return demandResponse.caps(events: events, nodes: nodes.map(drNode), at: t)
    }

    /// The node as ``DemandResponse`` sees it.
    public func drNode(_ node: Node) -> DemandResponse.Node {
        DemandResponse.Node(
            id: node.id, groups: node.groups, fullWatts: node.fullWatts, homeLoadWatts: node.homeLoadWatts ?? unknownHomeLoadWatts)
    }

    /// Step 2: each transformer's share among its nodes, given their grid caps (`gridCaps` in `nodes`' order).
    public func budgets(_ nodes: [Node], gridCaps: [Double?]) -> [Limit] {
        var limits = gridCaps.map { Limit(gridCapWatts: $0) }
        var members: [String: [Int]] = [:]
        for (i, node) in nodes.enumerated() { if let id = node.transformerID { members[id, default: []].append(i) } }
        let allocator = TransformerAllocator()
        for transformer in transformers {
            guard let on = members[transformer.id], !on.isEmpty else { continue }
            var homes = on.map { i in
                let node = nodes[i]
                return TransformerAllocator.Home(
                    id: node.id, homeLoadWatts: node.homeLoadWatts ?? unknownHomeLoadWatts,
                    nodeDemandWatts: min(node.fullWatts, node.homeBudgetWatts ?? 0, gridCaps[i] ?? .infinity),
                    nodeFloorWatts: node.gridFloorWatts)
            }
            homes.append(
                TransformerAllocator.Home(id: "unmanaged", homeLoadWatts: unmanagedLoadWatts[transformer.id] ?? 0, nodeDemandWatts: 0))
            let shares = allocator.allocate(homes, on: transformer)
            for (k, i) in on.enumerated() { limits[i].transformerBudgetWatts = shares[k] }
        }
        return limits
    }
}
