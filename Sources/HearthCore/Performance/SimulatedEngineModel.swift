/// Token timings of a simulated engine, from a ``NodeProfile``.
///
/// The simulator (`HearthSim`), the node agent's simulated engine and the ``PerformanceModel`` all take
/// their timings from here, so the scheduler's predictions and the simulation agree by construction.
/// The engine it describes: a request first takes a slot (at most `maxBatch`); prompts are prefilled one
/// at a time, first come first served, the cached prefix skipped; the first token appears when its prefill
/// ends; then every running sequence gains one token per decode step of
/// `decodeStepSeconds(batch: sequences decoding)`. The client sees each token one link RTT after the
/// request left the gateway (half out, half back).
public struct SimulatedEngineModel: Sendable, Hashable {
    public var profile: NodeProfile

    public init(profile: NodeProfile) {
        self.profile = profile
    }

    /// Prompt tokens served from cache when `matchedBlocks` leading blocks of `blockTokens` are cached (at least one
    /// token is always computed).
    @inlinable
    public static func cachedTokens(matchedBlocks: Int, blockTokens: Int = NodeProfile.blockTokens, promptTokens: Int) -> Int {
        let block = max(1, blockTokens)
        // Blocks past the prompt's own count change nothing, and clamping first keeps the product from overflowing.
        return max(0, min(min(max(0, matchedBlocks), promptTokens / block + 1) * block, promptTokens - 1))
    }

    /// Seconds of prefill for a prompt of which `cachedTokens` are already in cache.
    @inlinable
    public func prefillSeconds(promptTokens: Int, cachedTokens: Int) -> Double {
        profile.prefillSeconds(tokens: max(1, promptTokens - cachedTokens))
    }

    /// Gap between tokens while `batchSize` sequences decode.
    @inlinable
    public func interTokenSeconds(batchSize: Int) -> Double {
        profile.decodeStepSeconds(batch: batchSize)
    }

    /// Time to first token on an idle node: prefill plus the link round trip.
    @inlinable
    public func idleFirstTokenSeconds(promptTokens: Int, cachedTokens: Int) -> Double {
        prefillSeconds(promptTokens: promptTokens, cachedTokens: cachedTokens) + profile.linkRTTSeconds
    }
}
