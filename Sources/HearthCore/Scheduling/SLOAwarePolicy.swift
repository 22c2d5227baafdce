/// Hearth's default: the node with the best predicted SLO margin.
///
/// Filters (built-in and configured) drop ineligible nodes; the scorer is the performance model's margin
/// against the request's class targets (time already queued counts against TTFT); the picker:
/// 1. keeps a request on the node with the longest cached prefix (or holding its session) when that node
///    still meets the targets — KV reuse saves prefill for everyone;
/// 2. otherwise sends an interactive best-effort request to an idle node whose profile no answer has confirmed yet,
///    if that node would meet the targets were its profile ``explorationOptimism`` times too slow (a node calibrated
///    on a busy machine must meet some answers, or its profile is never corrected);
/// 3. otherwise takes the largest margin, which spreads load and prefers nodes fast enough for the class;
/// 4. `batch` requests see only nodes with spare capacity (below `batchSpareFraction` of their slots), so
///    they never take capacity interactive requests need.
/// When no candidate meets the targets it returns the best one anyway and the ``Scheduler`` queues or refuses.
/// The scan allocates nothing: it keeps only the best slots and builds one ``Candidate`` at the end.
public struct SLOAwarePolicy: SchedulingPolicy {
    /// How wrong an unconfirmed profile is assumed it may be when exploring: a node calibrated while its machine was
    /// busy measured up to about 3× slow (``ProfileRefitter`` corrects that within a few answers).
    public static let explorationOptimism = 3.0

    public init() {}

    public var kind: SchedulingPolicyKind { .sloAware }
    public var enforcesTargets: Bool { true }

    public mutating func choose(_ request: SchedulingRequest, in pool: ModelPool, fleet: FleetState, context: PolicyContext) -> Candidate? {
        let n = pool.count
        let (start, length) = context.window(poolCount: n)
        let slo = context.configuration.targets[request.taskClass]
        let ttftTarget = slo.ttftTarget(promptTokens: request.promptTokens)
        let ttftRemaining = ttftTarget - max(0, context.now - request.arrival)
        let tpotTarget = slo.tpotSeconds
        let spare = context.configuration.batchSpareFraction
        let isBatch = request.taskClass == .batch
        // A strict request asked for its targets or a refusal: it never goes where the profile says they are missed.
        let explores = !isBatch && request.sloPolicy == .bestEffort
        let hashes = request.prefixHashes
        let session = request.sessionKey

        var bestSlot = -1
        var bestMargin = -Double.infinity
        var bestPrediction = Prediction(ttftSeconds: 0, tpotSeconds: 0, queueSeconds: 0, cachedTokens: 0)
        var affinitySlot = -1
        var affinityMargin = -Double.infinity
        var affinityCached = -1
        var affinityPrediction = bestPrediction
        var bestIdle = Double.infinity
        var exploreSlot = -1
        var exploreMargin = -Double.infinity
        var explorePrediction = bestPrediction

        /// The share of the class targets a prediction leaves spare (negative: missed).
        @inline(__always)
        func targetMargin(ttft: Double, tpot: Double) -> Double {
            min((ttftRemaining - ttft) / ttftTarget, (tpotTarget - tpot) / tpotTarget)
        }

        @inline(__always)
        func consider(_ slot: Int) {
            guard context.isEligible(request, slot: slot, in: pool, fleet: fleet) else { return }
            let index = pool.nodeIndices[slot]
            let load = fleet.loads[index]
            let profile = pool.profiles[slot]
            if isBatch && Double(load.outstanding + 1) > spare * Double(profile.maxBatch) { return }
            let matched = fleet.matchedBlocks(hashes, at: index)
            let p = PerformanceModel.predict(
                promptTokens: request.promptTokens, matchedBlocks: matched, blockTokens: request.prefixBlockTokens, load: load,
                profile: profile, now: context.now)
            let margin = targetMargin(ttft: p.ttftSeconds, tpot: p.tpotSeconds)
            bestIdle = min(bestIdle, p.ttftSeconds - p.queueSeconds)
            if margin > bestMargin {
                bestMargin = margin
                bestSlot = slot
                bestPrediction = p
            }
            if explores && load.outstanding == 0 && fleet.isProfileUnconfirmed(at: index) {
                let hope = Self.explorationOptimism
                let hoped = targetMargin(ttft: p.ttftSeconds / hope, tpot: p.tpotSeconds / hope)
                if hoped >= 0 && hoped > exploreMargin {
                    exploreMargin = hoped
                    exploreSlot = slot
                    explorePrediction = p
                }
            }
            guard margin >= 0 else { return }
            let cached = p.cachedTokens
            if cached > 0 || (session.map { fleet.cacheContains($0, at: index) } ?? false) {
                if cached > affinityCached || (cached == affinityCached && margin > affinityMargin) {
                    affinityCached = cached
                    affinityMargin = margin
                    affinitySlot = slot
                    affinityPrediction = p
                }
            }
        }

        for step in 0..<length { consider((start + step) % n) }
        if length < n, let key = request.affinityKey {
            let home = jumpConsistentHash(key, buckets: n)
            if (home - start + n) % n >= length { consider(home) }
        }

        if affinitySlot >= 0 {
            return Candidate(
                slot: affinitySlot, nodeIndex: pool.nodeIndices[affinitySlot], prediction: affinityPrediction, margin: affinityMargin,
                reason: .sessionAffinity(cachedTokens: affinityPrediction.cachedTokens, margin: affinityMargin), bestIdleTTFT: bestIdle)
        }
        if exploreSlot >= 0 && exploreSlot != bestSlot {
            // Its margin is the hoped one, so the scheduler places it rather than queueing on the profile in doubt.
            return Candidate(
                slot: exploreSlot, nodeIndex: pool.nodeIndices[exploreSlot], prediction: explorePrediction, margin: exploreMargin,
                reason: .exploring(hopedMargin: exploreMargin), bestIdleTTFT: bestIdle)
        }
        guard bestSlot >= 0 else { return nil }
        return Candidate(
            slot: bestSlot, nodeIndex: pool.nodeIndices[bestSlot], prediction: bestPrediction, margin: bestMargin,
            reason: isBatch ? .spareCapacity : .bestMargin(margin: bestMargin), bestIdleTTFT: bestIdle)
    }
}
