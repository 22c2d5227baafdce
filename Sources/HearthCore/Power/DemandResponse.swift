/// Turns the grid events in force into per-node power caps: a pure function of the events, the nodes and `t`.
///
/// - `IMPORT_CAPACITY_LIMIT` value `v` kW limits the site's import, home and node together (OpenADR 3.1's definition):
///   a targeted node may draw `v × 1000` W less what its home draws besides it.
/// - `SIMPLE` level `l` caps a targeted node at ``Configuration/simpleLevelFractions``[l] × its full draw
///   (defaults: 0 → no cap, 1 → 50 %, 2 → 0 (drain/off), 3 → 0); levels outside 0…3 count as 3 (fail safe).
/// - Several events on one node: the least cap wins.
public struct DemandResponse: Sendable {
    public struct Configuration: Sendable, Hashable, Codable {
        /// Share of full draw allowed at SIMPLE levels 0, 1, 2, 3.
        public var simpleLevelFractions: [Double]

        public init(simpleLevelFractions: [Double] = [1, 0.5, 0, 0]) {
            self.simpleLevelFractions = simpleLevelFractions
        }
    }

    /// A node as the grid sees it.
    public struct Node: Sendable, Hashable, Codable {
        public var id: String
        /// Group targets that name this node (transformer, feeder, substation, program group).
        public var groups: Set<String>
        /// Full draw, watts (the base for SIMPLE levels).
        public var fullWatts: Double
        /// What the node's home draws besides the node, watts: it shares an import capacity limit with the node.
        public var homeLoadWatts: Double

        public init(id: String, groups: Set<String> = [], fullWatts: Double, homeLoadWatts: Double = 0) {
            self.id = id
            self.groups = groups
            self.fullWatts = fullWatts
            self.homeLoadWatts = homeLoadWatts
        }
    }

    public var configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The cap on `node` from one event at `t`, watts; nil when the event does not bind it then.
    public func cap(_ event: GridEvent, node: Node, at t: Double) -> Double? {
        guard event.targets(node: node.id, groups: node.groups), event.isActive(for: node.id, at: t) else { return nil }
        switch event.signal {
        case .importCapacityLimit(let kw):
            guard kw.isFinite, node.homeLoadWatts.isFinite else { return 0 }
            return max(0, kw * 1000 - max(0, node.homeLoadWatts))
        case .simple(let level):
            let fractions = configuration.simpleLevelFractions
            let fraction = (0..<fractions.count).contains(level) ? fractions[level] : 0
            return fraction >= 1 ? nil : max(0, fraction) * node.fullWatts
        }
    }

    /// Caps in `nodes`' order, watts (nil: no event binds the node at `t`).
    public func caps(events: [GridEvent], nodes: [Node], at t: Double) -> [Double?] {
        nodes.map { node in
            var least: Double?
            for event in events {
                if let c = cap(event, node: node, at: t) { least = min(least ?? .infinity, c) }
            }
            return least
        }
    }
}
