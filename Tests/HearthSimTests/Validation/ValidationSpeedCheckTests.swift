import HearthCore
import HearthSim
import Testing

/// The speed check before each load level: it measures how far the engine has drifted from its calibration, and the
/// level is simulated with the profile scaled to that drift.
@Suite struct ValidationSpeedCheckTests {
    static let calibrated = ValidationProfile(
        node: NodeProfile(
            model: "m", prefillTokensPerSecond: 120, prefillOverheadSeconds: 0.05, decodeBaseSeconds: 0.002,
            decodePerSequenceSeconds: 0.012, maxBatch: 4, linkRTTSeconds: 0),
        decodeSecondsPerContextToken: 1e-5, prefillSecondsPerContextToken: 3e-6)

    /// An engine that answers exactly as `profile` predicts for a request served alone.
    struct ProfiledEngine: ValidationEngineClient {
        var profile: ValidationProfile

        func send(_ request: ValidationRequest, sentAt: Double) async throws -> ValidationObservation {
            let prompt = request.segments.reduce(0) { $0 + $1.tokens }
            let ttft =
                profile.node.prefillSeconds(tokens: prompt) + profile.prefillSecondsPerContextToken * Double(prompt) * Double(prompt) / 2
            let context = Double(prompt) + Double(request.outputTokens) / 2
            let step = profile.node.decodeStepSeconds(batch: 1) + profile.decodeSecondsPerContextToken * context
            return ValidationObservation(
                id: request.id, sentAt: sentAt, ttft: ttft, e2e: ttft + step * Double(request.outputTokens - 1), promptTokens: prompt,
                cachedTokens: 0, completionTokens: request.outputTokens)
        }
    }

    @Test func theCheckMeasuresHowFarTheEngineHasDrifted() async {
        let drifted = EngineSpeed(prefill: 1.3, decode: 0.8)
        let measured = await ValidationSpeedCheck().run(
            level: 1, profile: Self.calibrated, client: ProfiledEngine(profile: drifted.applied(to: Self.calibrated)))
        #expect(abs(measured.prefill - 1.3) < 1e-9)
        #expect(abs(measured.decode - 0.8) < 1e-9)
        // An engine that is its calibration is at 1×.
        let same = await ValidationSpeedCheck().run(level: 2, profile: Self.calibrated, client: ProfiledEngine(profile: Self.calibrated))
        #expect(abs(same.prefill - 1) < 1e-9 && abs(same.decode - 1) < 1e-9)
    }

    @Test func everyLevelGetsFreshProbeText() {
        let check = ValidationSpeedCheck()
        let keys = (1...3).flatMap { level in check.requests(level: level).flatMap { $0.segments.map(\.key) } }
        #expect(Set(keys).count == keys.count)
    }

    @Test func implausibleFactorsAreIgnored() {
        #expect(EngineSpeed(prefill: 40, decode: .nan) == .calibrated)
        #expect(EngineSpeed(prefill: 0, decode: -1) == .calibrated)
        // No usable observation: no drift claimed.
        #expect(ValidationSpeedCheck.speed(of: [], against: Self.calibrated) == .calibrated)
    }

    @Test func aLevelIsSimulatedWithTheProfileScaledToItsCheck() throws {
        // Four requests served alone on an engine 40 % slower at prefill and 10 % faster at decode than calibrated.
        let drifted = EngineSpeed(prefill: 1.4, decode: 0.9)
        let engine = drifted.applied(to: Self.calibrated)
        let requests = (0..<4).map { id in
            ValidationRequest(
                id: id, workload: "w", conversation: id, segments: [PromptSegment(key: UInt64(100 + id), tokens: 200 + 50 * id)],
                outputTokens: 40, taskClass: .chat)
        }
        let placeholders = requests.map {
            ValidationObservation(
                id: $0.id, sentAt: Double($0.id) * 10, ttft: 1, e2e: 1, promptTokens: $0.segments[0].tokens, cachedTokens: 0,
                completionTokens: $0.outputTokens)
        }
        let truth = ValidationSimulation.simulate(
            requests: requests, observations: placeholders, profile: engine.node, contextTokens: 16_384,
            configuration: ValidationSimulation.validationConfiguration(engine))
        let observations = try placeholders.map { placeholder in
            var observed = placeholder
            let timing = try #require(truth[placeholder.id])
            observed.ttft = timing.ttft
            observed.e2e = timing.e2e
            return observed
        }
        let run = ValidationRun(workloads: [], concurrencies: [], profile: Self.calibrated, contextTokens: 16_384)
        let level = ValidationRecording.Level(
            workload: "w", concurrency: 1, requests: requests, observations: observations, speed: drifted)
        let (rows, _) = run.compare([level])
        let row = try #require(rows.first)
        #expect(row.speed == drifted)
        #expect(try #require(row.ttft).mape < 1e-6)
        #expect(try #require(row.e2e).mape < 1e-6)
        // As calibrated, the simulator misses the drift: a third off on TTFT.
        #expect(try #require(row.calibratedOnce?.ttft) > 20)
        // Unchecked, the level is simulated as calibrated, which is then the row's own error.
        var unchecked = level
        unchecked.speed = nil
        let plain = try #require(run.compare([unchecked]).rows.first)
        #expect(plain.speed == nil && plain.calibratedOnce == nil)
        #expect(plain.ttft?.mape == row.calibratedOnce?.ttft)
    }
}
