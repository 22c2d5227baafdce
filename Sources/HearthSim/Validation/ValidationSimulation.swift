public import HearthCore

/// The simulator's timings for one validation request.
public struct SimulatedTiming: Sendable, Hashable, Codable {
    public var ttft: Double
    public var tpot: Double?
    public var e2e: Double
    /// Prompt tokens the simulated node served from its prefix cache.
    public var cachedTokens: Int

    public init(ttft: Double, tpot: Double?, e2e: Double, cachedTokens: Int) {
        self.ttft = ttft
        self.tpot = tpot
        self.e2e = e2e
        self.cachedTokens = cachedTokens
    }
}

/// Runs the requests a real engine served through the ``Simulator``: one node with the engine's profile, each
/// request arriving when the real client sent it, with the prompt and output lengths the engine reported.
public enum ValidationSimulation {
    /// Prefix-cache granularity for validation runs: llama-server matches cached prompts token by token, and so does
    /// the simulator here (16-token blocks left up to 15 tokens of every later turn to recompute, about 0.1 s each).
    public static let blockTokens = 1

    /// Simulated timings by request id; requests without an observation are not simulated.
    public static func simulate(
        requests: [ValidationRequest], observations: [ValidationObservation], profile: NodeProfile, contextTokens: Int,
        configuration: SimulationConfiguration
    ) -> [Int: SimulatedTiming] {
        let byID = Dictionary(requests.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let pairs = observations.compactMap { observation in byID[observation.id].map { (observation, $0) } }
            .sorted { $0.0.sentAt < $1.0.sentAt }
        guard let start = pairs.first?.0.sentAt else { return [:] }
        // Closed loop: a client sends when its previous answer ends, so a request arrives at the simulated end of its
        // client's previous one plus the gap the real client left. Requests are settled in time order: with the settled
        // ones simulated, the earliest arrival a pending request could have is exact, because only requests that
        // arrive before an answer ends can change when it ends. (Iterating every arrival to a fixed point instead can
        // oscillate and leave timings that belong to other arrivals.)
        var previous = [Int?](repeating: nil, count: pairs.count)
        var lastOfClient: [Int: Int] = [:]
        for (index, pair) in pairs.enumerated() {
            if pair.0.gap != nil { previous[index] = lastOfClient[pair.0.client] }
            lastOfClient[pair.0.client] = index
        }
        var arrivals = pairs.map { $0.0.sentAt - start }
        var settled = previous.map { $0 == nil }
        var timings = simulateSettled(
            pairs, arrivals, settled, profile: profile, contextTokens: contextTokens, configuration: configuration)
        while true {
            var next: (index: Int, arrival: Double)?
            for index in pairs.indices where !settled[index] {
                guard let before = previous[index], settled[before], let gap = pairs[index].0.gap else { continue }
                // A predecessor the simulator did not serve leaves its successor at the real send time.
                let arrival = timings[pairs[before].0.id].map { arrivals[before] + $0.e2e + gap } ?? arrivals[index]
                if next == nil || arrival < next!.arrival { next = (index, arrival) }
            }
            guard let (index, arrival) = next else { break }
            arrivals[index] = arrival
            settled[index] = true
            timings = simulateSettled(
                pairs, arrivals, settled, profile: profile, contextTokens: contextTokens, configuration: configuration)
        }
        return timings
    }

    /// ``simulateOnce(pairs:arrivals:profile:contextTokens:configuration:)`` over the settled pairs only.
    private static func simulateSettled(
        _ pairs: [(ValidationObservation, ValidationRequest)], _ arrivals: [Double], _ settled: [Bool], profile: NodeProfile,
        contextTokens: Int, configuration: SimulationConfiguration
    ) -> [Int: SimulatedTiming] {
        let chosen = pairs.indices.filter { settled[$0] }
        return simulateOnce(
            pairs: chosen.map { pairs[$0] }, arrivals: chosen.map { arrivals[$0] }, profile: profile, contextTokens: contextTokens,
            configuration: configuration)
    }

    /// One simulator run with the given arrivals (seconds from the first, in `pairs` order).
    static func simulateOnce(
        pairs: [(ValidationObservation, ValidationRequest)], arrivals: [Double], profile: NodeProfile, contextTokens: Int,
        configuration: SimulationConfiguration
    ) -> [Int: SimulatedTiming] {
        let block = max(1, configuration.prefixBlockTokens)
        // The simulator wants arrivals sorted; keep which pair each trace request is.
        let order = pairs.indices.sorted { arrivals[$0] < arrivals[$1] }
        let observed = order.map { pairs[$0].0 }
        let traceRequests = order.map { index -> TraceRequest in
            let (observation, request) = pairs[index]
            return TraceRequest(
                arrival: arrivals[index], promptTokens: max(1, observation.promptTokens),
                outputTokens: max(1, observation.completionTokens),
                prefixHashes: ValidationPromptText.blockHashes(request.segments, blockTokens: block), declaredClass: request.taskClass)
        }
        var node = profile
        node.prefixCacheBlocks = max(1, contextTokens / block)
        let snapshot = NodeSnapshot(
            id: NodeID("validated"), models: [ServedModel(id: profile.model, contextTokens: contextTokens)], profiles: [node])
        let trace = Trace(path: "validation", format: .generated, requests: traceRequests)
        var simulator = Simulator(trace: trace, nodes: [snapshot], policy: .leastLoaded, configuration: configuration)
        var progress = ProgressReporter(label: "", isEnabled: false)
        let result = simulator.run(progress: &progress)
        var timings: [Int: SimulatedTiming] = [:]
        for (observation, outcome) in zip(observed, result.outcomes) where !outcome.refused && !outcome.lost {
            let tpot: Double? = outcome.outputTokens > 1 ? outcome.tpot : nil
            timings[observation.id] = SimulatedTiming(
                ttft: outcome.ttft, tpot: tpot, e2e: outcome.ttft + (tpot ?? 0) * Double(max(0, outcome.outputTokens - 1)),
                cachedTokens: outcome.cachedTokens)
        }
        return timings
    }

    /// llama-server's default `n_batch`: prompt tokens it computes in one step, across its slots.
    public static let llamaBatchTokens = 2048

    /// The simulator settings that describe one llama.cpp engine: fine prefix blocks, prefill holding up decode
    /// (one batch per step on the same cores; prompts that wait together are prefilled together, after the decode
    /// step under way, in a step that also decodes), prefill and decode that grow with context.
    public static func validationConfiguration(_ profile: ValidationProfile) -> SimulationConfiguration {
        var configuration = baselineConfiguration()
        configuration.prefillStallsDecode = true
        configuration.prefillBatchTokens = llamaBatchTokens
        configuration.prefillJoinsDecodeSteps = true
        configuration.decodeSecondsPerContextToken = profile.decodeSecondsPerContextToken
        configuration.prefillSecondsPerContextToken = profile.prefillSecondsPerContextToken
        return configuration
    }

    /// The simulator's defaults but for the prefix-block size (which the engine's cache sets, not the model).
    public static func baselineConfiguration() -> SimulationConfiguration {
        var configuration = SimulationConfiguration()
        configuration.prefixBlockTokens = blockTokens
        return configuration
    }
}
