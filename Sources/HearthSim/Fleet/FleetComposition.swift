public import HearthCore

/// A recipe for a simulated fleet: which hardware, in what shares, serving one model.
public struct FleetComposition: Sendable, Hashable {
    public struct Kind: Sendable, Hashable {
        public var gpu: GPUSpec
        public var count: Int
        public var share: Double
    }

    public var name: String
    public var kinds: [Kind]
    public var model: ModelSpec
    /// Link RTT is drawn uniformly from this range (home broadband to a regional gateway), seconds.
    public var rttRange: ClosedRange<Double>

    public init(name: String, kinds: [Kind], model: ModelSpec = .llama31_8B, rttRange: ClosedRange<Double> = 0.010...0.060) {
        self.name = name
        self.kinds = kinds
        self.model = model
        self.rttRange = rttRange
    }

    /// Homes with a mix of hardware: 10 % CPU-only, 40 % two L4s, 30 % one RTX PRO 6000 Blackwell, 20 % one H100.
    public static let mixed = FleetComposition(
        name: "mixed",
        kinds: [
            Kind(gpu: .cpuNode, count: 1, share: 0.1), Kind(gpu: .l4, count: 2, share: 0.4),
            Kind(gpu: .rtxPro6000Blackwell, count: 1, share: 0.3), Kind(gpu: .h100SXM, count: 1, share: 0.2),
        ])

    public static func uniform(_ gpu: GPUSpec, count: Int = 1) -> FleetComposition {
        FleetComposition(name: gpu.name, kinds: [Kind(gpu: gpu, count: count, share: 1)])
    }

    /// `mixed`, or a GPU name (`cpu`, `l4`, `rtx-pro-6000`, `h100`).
    public static func named(_ name: String) -> FleetComposition? {
        if name == "mixed" { return .mixed }
        return GPUSpec.known.first { $0.name == name }.map { uniform($0) }
    }

    /// Builds `nodes` nodes, the kinds in proportion to their shares, order and RTTs drawn from `seed`.
    public func build(nodes: Int, seed: UInt64) -> [NodeSnapshot] {
        var rng = SeededGenerator(seed: seed ^ 0xF1EE7)
        var plan: [Kind] = []
        var assigned = 0
        for (i, kind) in kinds.enumerated() {
            let n = i == kinds.count - 1 ? nodes - assigned : Int((Double(nodes) * kind.share).rounded())
            plan += Array(repeating: kind, count: max(0, min(n, nodes - assigned)))
            assigned = plan.count
        }
        plan.shuffle(using: &rng)
        return plan.enumerated().map { i, kind in
            let rtt = rttRange.lowerBound + (rttRange.upperBound - rttRange.lowerBound) * rng.unit()
            let profile = NodeProfile(gpu: kind.gpu, count: kind.count, model: model, linkRTTSeconds: rtt)
            return NodeSnapshot(
                id: NodeID("node-\(i)"), models: [ServedModel(id: model.id, contextTokens: model.contextTokens)], profiles: [profile],
                labels: ["hardware": "\(kind.count)x\(kind.gpu.name)"])
        }
    }

    /// How many nodes of each hardware label a built fleet has.
    public static func census(_ nodes: [NodeSnapshot]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for node in nodes { counts[node.labels["hardware", default: "?"], default: 0] += 1 }
        return counts
    }
}
