/// Predicts TTFT and TPOT of a request on a node from its profile and live state.
///
/// - TTFT = wait + prefill of the uncached prompt + link RTT, where wait is the later of
///   (a) the prefill backlog still left (`prefillBacklogSeconds` aged since `asOf`) and
///   (b) when a full node will free a slot for us: the next slot at `nextSlotFreeSeconds`, then one per
///   `typicalOutputTokens × step(maxBatch) / maxBatch` for every request waiting ahead.
/// - TPOT = the decode step time with the sequences now running plus this one.
public enum PerformanceModel {
    @inlinable
    public static func predict(
        promptTokens: Int, matchedBlocks: Int, blockTokens: Int = NodeProfile.blockTokens, load: NodeLoad,
        profile: NodeProfile, now: Double
    ) -> Prediction {
        let engine = SimulatedEngineModel(profile: profile)
        let cached = SimulatedEngineModel.cachedTokens(matchedBlocks: matchedBlocks, blockTokens: blockTokens, promptTokens: promptTokens)
        let elapsed = max(0, now - load.asOf)
        let backlog = max(0, load.prefillBacklogSeconds - elapsed)
        var slotWait = 0.0
        let ahead = load.runningSequences + load.waitingSequences - profile.maxBatch
        if ahead >= 0 {
            let service = Double(profile.typicalOutputTokens) * engine.interTokenSeconds(batchSize: profile.maxBatch)
            slotWait = max(0, load.nextSlotFreeSeconds - elapsed) + Double(ahead) * service / Double(profile.maxBatch)
        }
        let wait = max(backlog, slotWait)
        let ttft = wait + engine.idleFirstTokenSeconds(promptTokens: promptTokens, cachedTokens: cached)
        let tpot = engine.interTokenSeconds(batchSize: min(profile.maxBatch, load.runningSequences + 1))
        return Prediction(ttftSeconds: ttft, tpotSeconds: tpot, queueSeconds: wait, cachedTokens: cached)
    }

    /// Convenience: predict for `request` on the fleet's node at `nodeIndex` with `profile`.
    @inlinable
    public static func predict(_ request: SchedulingRequest, fleet: FleetState, nodeIndex: Int, profile: NodeProfile, now: Double)
        -> Prediction
    {
        let matched = fleet.matchedBlocks(request.prefixHashes, at: nodeIndex)
        return predict(
            promptTokens: request.promptTokens, matchedBlocks: matched, blockTokens: request.prefixBlockTokens,
            load: fleet.loads[nodeIndex], profile: profile, now: now)
    }
}
