import HearthCore
import HearthSim
import Testing

/// The simulator's terms for llama.cpp-style engines: prefill holding up decode, context-dependent decode steps and
/// fine prefix blocks. Each is off by default; these tests pin what turning it on changes.
@Suite struct SimulatorEngineModelTests {
    static let profile = NodeProfile(
        model: "m", prefillTokensPerSecond: 10_000, decodeBaseSeconds: 0.010, decodePerSequenceSeconds: 0.0005, maxBatch: 4,
        prefixCacheBlocks: 64, linkRTTSeconds: 0.02)

    func run(_ requests: [TraceRequest], _ configuration: SimulationConfiguration) -> SimulationResult {
        let node = NodeSnapshot(id: NodeID("n"), models: [ServedModel(id: "m", contextTokens: 32_768)], profiles: [Self.profile])
        var simulator = Simulator(
            trace: Trace(path: "t", format: .generated, requests: requests), nodes: [node], policy: .leastLoaded,
            configuration: configuration)
        var progress = ProgressReporter(label: "test", isEnabled: false)
        return simulator.run(progress: &progress)
    }

    /// A decoding request, then a 2000-token prompt (0.2 s of prefill) with a one-token answer arriving mid-decode.
    let stallTrace = [
        TraceRequest(arrival: 0, promptTokens: 10, outputTokens: 101, declaredClass: .chat),
        TraceRequest(arrival: 0.05, promptTokens: 2000, outputTokens: 1, declaredClass: .chat),
    ]

    @Test func prefillHoldsUpDecodeWhenItStalls() throws {
        let overlapping = run(stallTrace, SimulationConfiguration())
        var configuration = SimulationConfiguration()
        configuration.prefillStallsDecode = true
        let stalled = run(stallTrace, configuration)
        // Overlapping: the decode never notices the prefill (batch 1 throughout).
        #expect(abs(overlapping.outcomes[0].tpot - 0.0105) < 1e-9)
        // Stalled: the 100 decode steps take 0.2 s longer in all.
        #expect(abs((stalled.outcomes[0].tpot - overlapping.outcomes[0].tpot) * 100 - 0.2) < 1e-9)
        // The prefilled request itself is not slowed.
        #expect(abs(stalled.outcomes[1].ttft - overlapping.outcomes[1].ttft) < 1e-9)
    }

    @Test func prefillBeforeDecodeStartsDoesNotStallIt() {
        var configuration = SimulationConfiguration()
        configuration.prefillStallsDecode = true
        // The long prompt ends before the short request starts decoding: nothing to stall.
        let trace = [
            TraceRequest(arrival: 0, promptTokens: 2000, outputTokens: 1, declaredClass: .chat),
            TraceRequest(arrival: 0.5, promptTokens: 10, outputTokens: 101, declaredClass: .chat),
        ]
        #expect(abs(run(trace, configuration).outcomes[1].tpot - 0.0105) < 1e-9)
    }

    @Test("prompts that wait together are prefilled in one batch and get their first tokens together")
    func promptsThatWaitTogetherArePrefilledTogether() {
        // A starts a batch alone; B, 2 ms late, finds it started and opens the next batch, which C and D join while it
        // waits (A's batch runs until 0.1 s).
        let trace = [
            TraceRequest(arrival: 0, promptTokens: 1000, outputTokens: 1, declaredClass: .chat),
            TraceRequest(arrival: 0.002, promptTokens: 1000, outputTokens: 1, declaredClass: .chat),
            TraceRequest(arrival: 0.05, promptTokens: 500, outputTokens: 1, declaredClass: .chat),
            TraceRequest(arrival: 0.06, promptTokens: 500, outputTokens: 1, declaredClass: .chat),
        ]
        let oneByOne = run(trace, SimulationConfiguration()).outcomes.map(\.ttft)
        func delays(batchTokens: Int, window: Double = 0) -> [Double] {
            var configuration = SimulationConfiguration()
            configuration.prefillBatchTokens = batchTokens
            configuration.prefillBatchWindowSeconds = window
            return zip(run(trace, configuration).outcomes.map(\.ttft), oneByOne).map { $0 - $1 }
        }
        func expect(_ delays: [Double], _ expected: [Double]) {
            for (delay, value) in zip(delays, expected) { #expect(abs(delay - value) < 1e-9, "\(delays)") }
        }
        // One by one the prefills end at 0.1, 0.2, 0.25 and 0.3 s; batched at 0.1, then 0.3 for the other three.
        expect(delays(batchTokens: 2048), [0, 0.1, 0.05, 0])
        // With a window, B still joins A's batch (both end at 0.2 s), and C and D share the next.
        expect(delays(batchTokens: 2048, window: 0.005), [0.1, 0, 0.05, 0])
        // 1,500 tokens a batch: C fills B's batch (ending at 0.25 s); D runs alone after it.
        expect(delays(batchTokens: 1500), [0, 0.05, 0, 0])
        // 1,200 tokens a batch: C's first 200 tokens fill B's batch (ending at 0.22 s) and its other 300 open the next
        // batch, which D joins; C and D get their first tokens when it ends, at 0.3 s.
        expect(delays(batchTokens: 1200), [0, 0.02, 0.05, 0])
    }

    @Test("a prompt reaching a decoding engine waits for the step under way, and its step decodes too")
    func promptsJoinDecodeStepsAtTheirBoundaries() {
        // A decodes in 10.5 ms steps from 1 ms on (boundaries at 1 + 10.5k ms); B's 1000-token prompt (0.1 s) arrives at
        // 50 ms, mid-step.
        let trace = [
            TraceRequest(arrival: 0, promptTokens: 10, outputTokens: 101, declaredClass: .chat),
            TraceRequest(arrival: 0.05, promptTokens: 1000, outputTokens: 1, declaredClass: .chat),
        ]
        var configuration = SimulationConfiguration()
        configuration.prefillStallsDecode = true
        configuration.prefillBatchTokens = 2048
        let anywhere = run(trace, configuration).outcomes
        configuration.prefillJoinsDecodeSteps = true
        let atBoundaries = run(trace, configuration).outcomes
        // B waits 3.5 ms for the step to end (at 53.5 ms), and its step carries A's token: 10.5 ms more.
        #expect(abs(atBoundaries[1].ttft - anywhere[1].ttft - 0.014) < 1e-9)
        // A stands still 10.5 ms longer but gains the token of B's step: it finishes when it did.
        #expect(abs(atBoundaries[0].tpot - anywhere[0].tpot) < 1e-9)
    }

    @Test func decodeStepsGrowWithContext() {
        var configuration = SimulationConfiguration()
        configuration.decodeSecondsPerContextToken = 1e-5
        let result = run([TraceRequest(arrival: 0, promptTokens: 1000, outputTokens: 101, declaredClass: .chat)], configuration)
        // Context: 1000 prompt tokens plus half of 101 output tokens.
        #expect(abs(result.outcomes[0].tpot - (0.0105 + 1e-5 * 1050.5)) < 1e-9)
    }

    @Test func prefillGrowsWithTheContextItAttendsTo() {
        var configuration = SimulationConfiguration()
        configuration.prefixBlockTokens = 16
        configuration.prefillSecondsPerContextToken = 1e-6
        let hashes: [UInt64] = [1, 2]
        let trace = [
            TraceRequest(arrival: 0, promptTokens: 1000, outputTokens: 1, declaredClass: .chat),
            TraceRequest(arrival: 1, promptTokens: 132, outputTokens: 1, prefixHashes: hashes, declaredClass: .chat),
            TraceRequest(arrival: 2, promptTokens: 132, outputTokens: 1, prefixHashes: hashes + [3], declaredClass: .chat),
        ]
        let result = run(trace, configuration)
        // Uncached: 1000 tokens at 10k/s plus 1000²/2 pairs.
        #expect(abs(result.outcomes[0].ttft - (0.1 + 1e-6 * 500_000 + 0.02)) < 1e-9)
        // 32 cached: the 100 computed tokens attend to the 32 and to each other.
        #expect(result.outcomes[2].cachedTokens == 32)
        #expect(abs(result.outcomes[2].ttft - (0.01 + 1e-6 * 100 * (32 + 50) + 0.02)) < 1e-9)
    }

    @Test func smallPrefixBlocksServeTheirOwnSizeFromCache() {
        var configuration = SimulationConfiguration()
        configuration.prefixBlockTokens = 16
        let hashes: [UInt64] = [1, 2, 3]
        let trace = [
            TraceRequest(arrival: 0, promptTokens: 50, outputTokens: 2, prefixHashes: hashes, declaredClass: .chat),
            TraceRequest(arrival: 1, promptTokens: 60, outputTokens: 2, prefixHashes: hashes + [4], declaredClass: .chat),
        ]
        let result = run(trace, configuration)
        #expect(result.outcomes[1].cachedTokens == 48)
        // With the default 512-token blocks, three matched blocks would claim all but one prompt token.
        #expect(run(trace, SimulationConfiguration()).outcomes[1].cachedTokens == 59)
    }
}
