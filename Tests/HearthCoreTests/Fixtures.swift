import HearthCore

enum Fixtures {
    static let model = "m"

    /// A node with simple round-number timings: prefill `rate` tok/s, decode step `base + perSeq × batch`.
    static func profile(
        rate: Double = 10_000, base: Double = 0.010, perSequence: Double = 0.0005, maxBatch: Int = 8, rtt: Double = 0.02,
        cacheBlocks: Int = 64
    ) -> NodeProfile {
        NodeProfile(
            model: model, prefillTokensPerSecond: rate, decodeBaseSeconds: base, decodePerSequenceSeconds: perSequence, maxBatch: maxBatch,
            prefixCacheBlocks: cacheBlocks, linkRTTSeconds: rtt)
    }

    static func node(_ name: String, profile: NodeProfile = profile(), load: NodeLoad = NodeLoad(), context: Int = 32_768) -> NodeSnapshot {
        NodeSnapshot(id: NodeID(name), models: [ServedModel(id: model, contextTokens: context)], profiles: [profile], load: load)
    }

    static func request(
        _ taskClass: TaskClass = .chat, prompt: Int = 1000, output: Int = 100, hashes: [UInt64] = [], session: UInt64? = nil,
        arrival: Double = 0
    ) -> SchedulingRequest {
        SchedulingRequest(
            model: model, taskClass: taskClass, promptTokens: prompt, maxOutputTokens: output, prefixHashes: hashes, sessionKey: session,
            arrival: arrival)
    }
}
