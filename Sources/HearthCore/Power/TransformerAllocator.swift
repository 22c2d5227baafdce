/// Shares a distribution transformer's capacity among the Hearth nodes of the homes it serves.
///
/// The homes always come first: the nodes share what is left of `rating × power factor × (1 − margin)` after
/// the homes' own live loads, by max-min fairness (water-filling): every node gets the same level, or its
/// whole demand when that is smaller, and what a small node leaves is shared by the rest. A node whose share
/// would fall below its floor (the least it can run at) cannot use it; the node with the largest floor among
/// those is given zero (it drains) and the level is recomputed, until every node with a share can run.
/// Pure function; O(n log n) per round, at most n rounds (n is a handful of homes per transformer).
///
/// Typical pole- and pad-mount single-phase units are 25, 37.5, 50 and 75 kVA serving a handful of homes
/// (utilities size them for diversified demand of roughly 3–7 kVA per home).
public struct TransformerAllocator: Sendable {
    public struct Transformer: Sendable, Hashable, Codable {
        public var id: String
        /// Nameplate rating, kVA.
        public var ratingKVA: Double
        /// Power factor of the aggregate load (kW = kVA × pf).
        public var powerFactor: Double
        /// Share of the rating kept free (for load the gateway has not yet seen, and ageing).
        public var margin: Double

        public init(id: String, ratingKVA: Double, powerFactor: Double = 0.9, margin: Double = 0.1) {
            self.id = id
            self.ratingKVA = ratingKVA
            self.powerFactor = powerFactor
            self.margin = margin
        }

        /// Real power the transformer may carry, watts: rating × pf (no margin).
        public var ratingWatts: Double { ratingKVA * 1000 * powerFactor }
        /// Real power Hearth keeps the total under, watts: rating × pf × (1 − margin).
        public var limitWatts: Double { ratingWatts * (1 - margin) }
    }

    /// One home on the transformer and its node's wishes.
    public struct Home: Sendable, Hashable, Codable {
        public var id: String
        /// The home's own live load (excluding the node), watts.
        public var homeLoadWatts: Double
        /// The most the node could use now: min(its full draw, its home budget, any grid cap), watts.
        public var nodeDemandWatts: Double
        /// The least the node can run at (host + GPUs at minimum limit); below it, it drains, watts.
        public var nodeFloorWatts: Double

        public init(id: String, homeLoadWatts: Double, nodeDemandWatts: Double, nodeFloorWatts: Double = 0) {
            self.id = id
            self.homeLoadWatts = homeLoadWatts
            self.nodeDemandWatts = nodeDemandWatts
            self.nodeFloorWatts = nodeFloorWatts
        }
    }

    public init() {}

    /// Node budgets in `homes`' order, watts. Σ(home load) + Σ(budgets) ≤ `transformer.limitWatts` whenever the
    /// homes alone fit; when they do not, every node gets zero. Non-finite or negative figures count as the
    /// worst case (home load unknown → the whole limit; demand unknown → zero).
    public func allocate(_ homes: [Home], on transformer: Transformer) -> [Double] {
        var homeTotal = 0.0
        for home in homes {
            homeTotal += home.homeLoadWatts.isFinite ? max(0, home.homeLoadWatts) : .infinity
        }
        let capacity = transformer.limitWatts - homeTotal
        guard capacity > 0, capacity.isFinite else { return Array(repeating: 0, count: homes.count) }
        let demands = homes.map { $0.nodeDemandWatts.isFinite ? max(0, $0.nodeDemandWatts) : 0 }
        let floors = homes.map { $0.nodeFloorWatts.isFinite ? max(0, $0.nodeFloorWatts) : 0 }
        var excluded = [Bool](repeating: false, count: homes.count)
        for (i, d) in demands.enumerated() where d < floors[i] || d == 0 { excluded[i] = true }
        while true {
            let shares = Self.waterFill(demands: demands, excluded: excluded, capacity: capacity)
            // Nodes whose share is below their floor cannot run: drop the one with the largest floor (ties: last).
            var worst: Int?
            for i in homes.indices where !excluded[i] && shares[i] < floors[i] {
                if worst == nil || floors[i] >= floors[worst!] { worst = i }
            }
            guard let drop = worst else { return shares }
            excluded[drop] = true
        }
    }

    /// Max-min fair shares of `capacity` among non-excluded demands.
    static func waterFill(demands: [Double], excluded: [Bool], capacity: Double) -> [Double] {
        var shares = [Double](repeating: 0, count: demands.count)
        let order = demands.indices.filter { !excluded[$0] }.sorted { demands[$0] < demands[$1] }
        var remaining = capacity
        var left = order.count
        for i in order {
            let level = remaining / Double(left)
            let share = min(demands[i], level)
            shares[i] = share
            remaining -= share
            left -= 1
        }
        return shares
    }
}
