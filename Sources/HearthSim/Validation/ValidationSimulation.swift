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
    /// Prefix-cache granularity for validation runs: llama-server matches cached prompts token by token, so the
    /// simulator's blocks are kept small.
    public static let blockTokens = 16

    /// Simulated timings by request id; requests without an observation are not simulated.
    public static func simulate(
        requests: [ValidationRequest], observations: [ValidationObservation], profile: NodeProfile, contextTokens: Int,
        configuration: SimulationConfiguration
    ) -> [Int: SimulatedTiming] {
        let byID = Dictionary(requests.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let pairs = observations.compactMap { observation in byID[observation.id].map { (observation, $0) } }
            .sorted { $0.0.sentAt < $1.0.sentAt }
        let observed = pairs.map(\.0)
        guard let start = observed.first?.sentAt else { return [:] }
        let block = max(1, configuration.prefixBlockTokens)
        let traceRequests = pairs.map { observation, request in
            TraceRequest(
                arrival: observation.sentAt - start, promptTokens: max(1, observation.promptTokens),
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

    /// The simulator settings that describe one llama.cpp engine: fine prefix blocks, prefill holding up decode
    /// (one batch per step on the same cores), decode steps that grow with context.
    public static func validationConfiguration(_ profile: ValidationProfile) -> SimulationConfiguration {
        var configuration = baselineConfiguration()
        configuration.prefillStallsDecode = true
        configuration.decodeSecondsPerContextToken = profile.decodeSecondsPerContextToken
        return configuration
    }

    /// The simulator's defaults but for the prefix-block size (which the engine's cache sets, not the model).
    public static func baselineConfiguration() -> SimulationConfiguration {
        var configuration = SimulationConfiguration()
        configuration.prefixBlockTokens = blockTokens
        return configuration
    }
}
