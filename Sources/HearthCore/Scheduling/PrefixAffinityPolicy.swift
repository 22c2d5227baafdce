/// Baseline: consistent hashing of the conversation prefix with bounded load.
///
/// The request's ``SchedulingRequest/affinityKey`` picks a home node by jump consistent hash; if the home
/// is ineligible or above `boundedLoadFactor` × the pool's mean utilisation, the next nodes are probed in
/// order. Requests without a key, or when every probe fails, go to the least-loaded node.
public struct PrefixAffinityPolicy: SchedulingPolicy {
    public init() {}

    public var kind: SchedulingPolicyKind { .prefixAffinity }
    public var enforcesTargets: Bool { false }

    public mutating func choose(_ request: SchedulingRequest, in pool: ModelPool, fleet: FleetState, context: PolicyContext) -> Candidate? {
        guard let key = request.affinityKey else {
            return LeastLoadedPolicy.pick(request, in: pool, fleet: fleet, context: context)
        }
        let n = pool.count
        let home = jumpConsistentHash(key, buckets: n)
        // Each node's bound: ⌈c × (pool load + 1) × its share of the pool's slots⌉ requests.
        let share = context.configuration.boundedLoadFactor * Double(pool.totalOutstanding + 1) / Double(max(1, pool.totalSlots))
        for probe in 0..<min(n, context.configuration.maxCandidates) {
            let slot = (home + probe) % n
            guard context.isEligible(request, slot: slot, in: pool, fleet: fleet) else { continue }
            let bound = (share * Double(pool.profiles[slot].maxBatch)).rounded(.up)
            if Double(fleet.loads[pool.nodeIndices[slot]].outstanding + 1) <= bound {
                return context.candidate(request, slot: slot, in: pool, fleet: fleet, reason: .prefixAffinity(probes: probe))
            }
        }
        return LeastLoadedPolicy.pick(request, in: pool, fleet: fleet, context: context)
    }
}
