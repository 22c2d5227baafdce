/// Hearth's default: the node with the best predicted SLO margin.
///
/// Filters (built-in and configured) drop ineligible nodes; the scorer is the performance model's margin
/// against the request's class targets; the picker:
/// 1. keeps a request on the node with the longest cached prefix (or holding its session) when that node
///    still meets the targets — KV reuse saves prefill for everyone;
/// 2. otherwise takes the largest margin, which spreads load and prefers nodes fast enough for the class;
/// 3. `batch` requests see only nodes with spare capacity (below `batchSpareFraction` of their slots), so
///    they never take capacity interactive requests need.
/// When no candidate meets the targets it returns the best one anyway and the ``Scheduler`` queues or refuses.
public struct SLOAwarePolicy: SchedulingPolicy {
    public init() {}

    public var kind: SchedulingPolicyKind { .sloAware }
    public var enforcesTargets: Bool { true }

    public mutating func choose(_ request: SchedulingRequest, in pool: ModelPool, fleet: FleetState, context: PolicyContext) -> Candidate? {
        let n = pool.count
        let (start, length) = context.window(poolCount: n)
        var best: Candidate?
        var affinity: Candidate?
        var bestIdle = Double.infinity
        let spare = context.configuration.batchSpareFraction
        let isBatch = request.taskClass == .batch

        func consider(_ slot: Int) {
            guard context.isEligible(request, slot: slot, in: pool, fleet: fleet) else { return }
            let index = pool.nodeIndices[slot]
            if isBatch {
                let load = fleet.loads[index]
                guard Double(load.outstanding + 1) <= spare * Double(pool.profiles[slot].maxBatch) else { return }
            }
            let candidate = context.candidate(request, slot: slot, in: pool, fleet: fleet, reason: .bestMargin(margin: 0))
            bestIdle = min(bestIdle, candidate.bestIdleTTFT)
            if best == nil || candidate.margin > best!.margin { best = candidate }
            if candidate.margin >= 0 {
                let cached = candidate.prediction.cachedTokens
                let holdsSession = request.sessionKey.map { fleet.caches[index].contains($0) } ?? false
                if cached > 0 || holdsSession {
                    if affinity == nil || cached > affinity!.prediction.cachedTokens
                        || (cached == affinity!.prediction.cachedTokens && candidate.margin > affinity!.margin)
                    {
                        affinity = candidate
                    }
                }
            }
        }

        for step in 0..<length { consider((start + step) % n) }
        if length < n, let key = request.affinityKey {
            let home = jumpConsistentHash(key, buckets: n)
            let offset = (home - start + n) % n
            if offset >= length { consider(home) }
        }

        if var chosen = affinity {
            chosen.reason = .sessionAffinity(cachedTokens: chosen.prediction.cachedTokens, margin: chosen.margin)
            chosen.bestIdleTTFT = bestIdle
            return chosen
        }
        guard var chosen = best else { return nil }
        chosen.reason = isBatch ? .spareCapacity : .bestMargin(margin: chosen.margin)
        chosen.bestIdleTTFT = bestIdle
        return chosen
    }
}
