import HearthCore

/// Stands in for an absent trace file with requests drawn from the trace's published statistics
/// (`/work/shared/traces/SOURCES.md`): Poisson arrivals at the mean rate, log-normal prompt and output
/// lengths whose median and mean match the published p50 and mean (σ = √(2 ln(mean/p50))), clamped to
/// the published maximum. The Mooncake stand-in adds shared prefixes: a request continues an earlier
/// conversation with the published ideal prefix-hit share.
public struct TraceGenerator: Sendable {
    public struct Statistics: Sendable, Hashable {
        public var name: String
        public var ratePerSecond: Double
        public var promptMedian: Double
        public var promptMean: Double
        public var promptMax: Int
        public var outputMedian: Double
        public var outputMean: Double
        public var outputMax: Int
        /// Share of requests that continue an earlier conversation (0 for traces without prefix data).
        public var continuationShare: Double
    }

    public static let azureCode = Statistics(
        name: "Azure LLM inference 2023, code", ratePerSecond: 2.567, promptMedian: 1469, promptMean: 2047.8, promptMax: 7437,
        outputMedian: 13, outputMean: 27.9, outputMax: 1899, continuationShare: 0)
    public static let azureConversation = Statistics(
        name: "Azure LLM inference 2023, conversation", ratePerSecond: 5.530, promptMedian: 1020, promptMean: 1154.7,
        promptMax: 14050, outputMedian: 129, outputMean: 211.1, outputMax: 1000, continuationShare: 0)
    public static let mooncakeConversation = Statistics(
        name: "Mooncake FAST'25 conversation", ratePerSecond: 3.401, promptMedian: 6909, promptMean: 12035.1, promptMax: 126_195,
        outputMedian: 350, outputMean: 342.6, outputMax: 2000, continuationShare: 0.366)

    /// Which statistics stand in for a path, guessed from its file name.
    public static func statistics(forPath path: String) -> Statistics {
        let name = path.split(separator: "/").last.map(String.init)?.lowercased() ?? path.lowercased()
        if name.contains("code") { return azureCode }
        if name.contains("conversation") || name.contains("mooncake") || name.hasSuffix(".jsonl") { return mooncakeConversation }
        return azureConversation
    }

    public var statistics: Statistics

    public init(statistics: Statistics) {
        self.statistics = statistics
    }

    public func generate(count: Int, seed: UInt64) -> [TraceRequest] {
        var rng = SeededGenerator(seed: seed)
        let stats = statistics
        func logNormal(median: Double, mean: Double, max upper: Int) -> Int {
            let sigma = (2 * _log(Swift.max(1.0001, mean / median))).squareRoot()
            let value = median * _exp(sigma * rng.normal())
            return Swift.min(upper, Swift.max(1, Int(value.rounded())))
        }
        var requests: [TraceRequest] = []
        requests.reserveCapacity(count)
        var conversations: [[UInt64]] = []
        var nextBlock: UInt64 = 1
        var time = 0.0
        for _ in 0..<count {
            time += rng.exponential(mean: 1 / stats.ratePerSecond)
            let prompt = logNormal(median: stats.promptMedian, mean: stats.promptMean, max: stats.promptMax)
            let output = logNormal(median: stats.outputMedian, mean: stats.outputMean, max: stats.outputMax)
            var hashes: [UInt64] = []
            var turns = 1
            if stats.continuationShare > 0 {
                let blocks = (prompt + NodeProfile.blockTokens - 1) / NodeProfile.blockTokens
                if !conversations.isEmpty && rng.unit() < stats.continuationShare {
                    let pick = Int(rng.next() % UInt64(conversations.count))
                    hashes = Array(conversations[pick].prefix(blocks))
                    turns = 2
                }
                while hashes.count < blocks {
                    hashes.append(nextBlock)
                    nextBlock += 1
                }
                if conversations.count < 4096 { conversations.append(hashes) } else { conversations[Int(rng.next() % 4096)] = hashes }
            }
            requests.append(TraceRequest(arrival: time, promptTokens: prompt, outputTokens: output, prefixHashes: hashes, turns: turns))
        }
        return TraceReader.normalised(requests)
    }

    /// Reads `path`, or, when the file is absent, generates a stand-in of `count` requests (default: an hour's worth).
    public static func readOrGenerate(path: String, count: Int? = nil, seed: UInt64) throws -> Trace {
        if FileManagerShim.fileExists(path) { return try TraceReader.read(path: path) }
        let stats = statistics(forPath: path)
        let n = count ?? Int(stats.ratePerSecond * 3600)
        return Trace(
            path: path, format: .generated, generatedFrom: stats.name,
            requests: TraceGenerator(statistics: stats).generate(count: n, seed: seed))
    }
}
