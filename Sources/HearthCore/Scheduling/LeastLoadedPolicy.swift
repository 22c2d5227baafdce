/// Baseline: the eligible node with the lowest share of its slots in use or waiting.
public struct LeastLoadedPolicy: SchedulingPolicy {
    public init() {}

    public var kind: SchedulingPolicyKind { .leastLoaded }
    public var enforcesTargets: Bool { false }

    public mutating func choose(_ request: SchedulingRequest, in pool: ModelPool, fleet: FleetState, context: PolicyContext) -> Candidate? {
        LeastLoadedPolicy.pick(request, in: pool, fleet: fleet, context: context)
    }

    static func pick(_ request: SchedulingRequest, in pool: ModelPool, fleet: FleetState, context: PolicyContext) -> Candidate? {
        let (start, length) = context.window(poolCount: pool.count)
        var best = -1
        var bestUtilisation = Double.infinity
        for step in 0..<length {
            let slot = (start + step) % pool.count
            guard context.isEligible(request, slot: slot, in: pool, fleet: fleet) else { continue }
            let utilisation = Double(fleet.loads[pool.nodeIndices[slot]].outstanding) / Double(pool.profiles[slot].maxBatch)
            if utilisation < bestUtilisation {
                bestUtilisation = utilisation
                best = slot
            }
        }
        guard best >= 0 else { return nil }
        return context.candidate(request, slot: best, in: pool, fleet: fleet, reason: .leastLoaded(utilisation: bestUtilisation))
    }
}
