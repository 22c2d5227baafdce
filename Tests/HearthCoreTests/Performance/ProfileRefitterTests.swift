import HearthCore
import Testing

/// A node's profile converges to what its answers show: from a wrong start, and after its speed changes mid-run,
/// within a few dozen answers; the node's own figures never make it faster; the hardware bounds always hold.
@Suite struct ProfileRefitterTests {
    /// The node as it really is: a small CPU node.
    static let truth = NodeProfile(
        model: "m", prefillTokensPerSecond: 800, prefillOverheadSeconds: 0.02, decodeBaseSeconds: 0.03, decodePerSequenceSeconds: 0.004,
        maxBatch: 4, linkRTTSeconds: 0.001)

    /// `profile` with every speed term `factor` times slower (factor < 1: faster).
    static func slowed(_ profile: NodeProfile, by factor: Double) -> NodeProfile {
        var slowed = profile
        slowed.prefillTokensPerSecond /= factor
        slowed.prefillOverheadSeconds *= factor
        slowed.decodeBaseSeconds *= factor
        slowed.decodePerSequenceSeconds *= factor
        return slowed
    }

    /// Request `index` of a mixed workload: prompts from 64 to 2,048 tokens, 1 to 4 sequences on the node, 32 tokens
    /// out, each timing off by up to ±10 % (a fixed cycle, so every run is the same).
    static func answer(_ index: Int, on engine: NodeProfile, claimed: Bool = false) -> AnswerTiming {
        let prompts = [64, 256, 1_024, 2_048, 128, 512]
        let noise = [1.08, 0.95, 1.02, 0.90, 1.10, 0.97, 1.04]
        let model = SimulatedEngineModel(profile: engine)
        let promptTokens = prompts[index % prompts.count]
        let batch = 1 + (index / 3) % 4
        let outputTokens = 32
        let prefill = model.prefillSeconds(promptTokens: promptTokens, cachedTokens: 0) * noise[index % noise.count]
        let step = model.interTokenSeconds(batchSize: batch) * noise[(index + 3) % noise.count]
        let firstByte = prefill + engine.linkRTTSeconds
        let total = firstByte + Double(outputTokens - 1) * step
        return AnswerTiming(
            promptTokens: promptTokens, claimedCompletionTokens: outputTokens, relayedContentEvents: claimed ? nil : outputTokens,
            batch: batch, totalSeconds: total, firstByteSeconds: claimed ? nil : firstByte,
            claimedFirstTokenSeconds: claimed ? prefill : nil, linkRTTSeconds: engine.linkRTTSeconds)
    }

    /// The worst relative error of `profile`'s prefill (64, 512 and 2,048 tokens) and decode step (1, 2 and 4
    /// sequences) against `truth`.
    static func error(of profile: NodeProfile, against truth: NodeProfile) -> Double {
        let prefill = [64, 512, 2_048].map { abs(profile.prefillSeconds(tokens: $0) / truth.prefillSeconds(tokens: $0) - 1) }
        let decode = [1, 2, 4].map { abs(profile.decodeStepSeconds(batch: $0) / truth.decodeStepSeconds(batch: $0) - 1) }
        return (prefill + decode).max() ?? .infinity
    }

    /// Feeds answers `range` from `engine(index)` and installs what the refitter returns; returns each answer's
    /// error after it was taken, and the profile at the end.
    static func run(
        _ refitter: inout ProfileRefitter, profile: inout NodeProfile, _ range: Range<Int>, engine: (Int) -> NodeProfile
    ) -> [Double] {
        range.map { index in
            if let refined = refitter.observe(answer(index, on: engine(index)), current: profile) { profile = refined }
            return error(of: profile, against: engine(index))
        }
    }

    /// Answers taken until the error stays within `tolerance` for the rest of `errors` (nil: it never does).
    static func answersToConverge(_ errors: [Double], within tolerance: Double = 0.15) -> Int? {
        guard let last = errors.lastIndex(where: { $0 > tolerance }) else { return 0 }
        return last + 1 < errors.count ? last + 1 : nil
    }

    @Test("a profile 3× too slow (calibrated on a busy machine) is within 15 % of the truth after at most 4 answers")
    func threeTimesTooSlowConverges() throws {
        var refitter = ProfileRefitter()
        var profile = Self.slowed(Self.truth, by: 3)
        #expect(Self.error(of: profile, against: Self.truth) > 0.6)
        let errors = Self.run(&refitter, profile: &profile, 0..<100) { _ in Self.truth }
        let answers = try #require(Self.answersToConverge(errors), "\(errors)")
        #expect(answers <= 4, "\(errors)")
        #expect(refitter.drifts >= 1)
    }

    @Test("a profile 3× too fast is within 15 % of the truth after at most 4 answers")
    func threeTimesTooFastConverges() throws {
        var refitter = ProfileRefitter()
        var profile = Self.slowed(Self.truth, by: 1.0 / 3)
        let errors = Self.run(&refitter, profile: &profile, 0..<100) { _ in Self.truth }
        let answers = try #require(Self.answersToConverge(errors), "\(errors)")
        #expect(answers <= 4, "\(errors)")
    }

    @Test("a node that slows 2.5× mid-run, and recovers later, is tracked within 15 % after at most 4 answers each time")
    func speedChangesMidRunAreTracked() throws {
        var refitter = ProfileRefitter()
        var profile = Self.truth
        let busy = Self.slowed(Self.truth, by: 2.5)
        let engine = { (index: Int) in (60..<120).contains(index) ? busy : Self.truth }
        let errors = Self.run(&refitter, profile: &profile, 0..<180, engine: engine)
        // Right at first: the ±10 % noise alone never moves it past 15 %.
        #expect(errors[0..<60].allSatisfy { $0 <= 0.15 }, "\(errors[0..<60])")
        let slowed = try #require(Self.answersToConverge(Array(errors[60..<120])), "\(errors[60..<120])")
        let recovered = try #require(Self.answersToConverge(Array(errors[120...])), "\(errors[120...])")
        #expect(slowed <= 4 && recovered <= 4, "slowed after \(slowed), recovered after \(recovered)")
    }

    @Test("a drift the window cannot show at once is still followed by the periodic refit over recent answers only")
    func gradualDriftIsFollowed() throws {
        var refitter = ProfileRefitter()
        var profile = Self.truth
        // 1 % slower with every answer: 2.7× after 100, never a jump the drift test sees at once.
        let engine = { (index: Int) in Self.slowed(Self.truth, by: min(2.7, 1 + 0.017 * Double(index))) }
        let errors = Self.run(&refitter, profile: &profile, 0..<160, engine: engine)
        #expect(errors[120...].allSatisfy { $0 <= 0.15 }, "\(errors[120...])")
    }

    @Test("within the tolerance, the profile is refitted every 16 answers and not between")
    func withinToleranceTheRefitWaitsForSixteenAnswers() {
        var refitter = ProfileRefitter()
        let profile = Self.truth
        let engine = Self.slowed(Self.truth, by: 1.3)
        let installed = (0..<16).map { refitter.observe(Self.answer($0, on: engine), current: profile) }
        #expect(installed[0..<15].allSatisfy { $0 == nil })
        let refined = try? #require(installed[15])
        #expect(refined.map { Self.error(of: $0, against: engine) <= 0.15 } == true, "\(String(describing: refined))")
        #expect(refitter.drifts == 0)
    }

    @Test("answers timed only by the node's own figures never make the profile faster, though they may slow it")
    func claimedOnlyNeverSpeedsUp() {
        var refitter = ProfileRefitter()
        let start = Self.slowed(Self.truth, by: 3)
        var profile = start
        for index in 0..<100 {
            if let refined = refitter.observe(Self.answer(index, on: Self.truth, claimed: true), current: profile) { profile = refined }
            #expect(profile.noFaster(than: start) == profile, "answer \(index): \(profile)")
        }
        #expect(refitter.drifts >= 1, "the drift was seen, and refused")

        // The same node admitting to being 3× slower than thought: believed.
        var slowing = ProfileRefitter()
        var optimistic = Self.slowed(Self.truth, by: 1.0 / 3)
        for index in 0..<40 {
            if let refined = slowing.observe(Self.answer(index, on: Self.truth, claimed: true), current: optimistic) {
                optimistic = refined
            }
        }
        #expect(Self.error(of: optimistic, against: Self.truth) <= 0.15, "\(optimistic)")
    }

    @Test("claimed answers mixed with timed ones cannot pull a profile faster than the timed ones show")
    func claimedFastAnswersAmongTimedOnesDoNotSpeedUp() {
        var refitter = ProfileRefitter()
        var profile = Self.truth
        // Every other answer buffered, with the node claiming 10× its real speed.
        let liar = Self.slowed(Self.truth, by: 0.1)
        for index in 0..<100 {
            let timing = index % 2 == 0 ? Self.answer(index, on: Self.truth) : Self.answer(index, on: liar, claimed: true)
            if let refined = refitter.observe(timing, current: profile) { profile = refined }
        }
        #expect(Self.error(of: profile, against: Self.truth) <= 0.15, "\(profile)")
    }

    @Test("a refit never promises more than the declared hardware, however fast the answers came")
    func hardwareBoundsHold() {
        let bounds = HardwareBounds(
            maximumPrefillTokensPerSecond: 400, minimumDecodeStepSeconds: 0.05, maximumSlots: 4, maximumDrawWatts: nil)
        var refitter = ProfileRefitter(bounds: bounds)
        var profile = Self.slowed(Self.truth, by: 3).clamped(to: bounds)
        for index in 0..<60 {
            if let refined = refitter.observe(Self.answer(index, on: Self.truth), current: profile) { profile = refined }
            #expect(profile.prefillTokensPerSecond <= 400 && profile.decodeStepSeconds(batch: 1) >= 0.05, "\(profile)")
        }
        #expect(refitter.refits > 0)
    }

    @Test("answers under a power cap refit the profile at full power: the cap is not counted twice")
    func powerCappedAnswersAreNormalised() {
        var refitter = ProfileRefitter()
        var capped = Self.truth
        capped.powerCapFactor = 0.5
        var profile = Self.slowed(Self.truth, by: 3)
        profile.powerCapFactor = 0.5
        for index in 0..<60 {
            if let refined = refitter.observe(Self.answer(index, on: capped), current: profile) { profile = refined }
        }
        #expect(profile.powerCapFactor == 0.5)
        var uncapped = profile
        uncapped.powerCapFactor = 1
        // The overhead is not slowed by the cap: within the noise of the truth at full power.
        #expect(Self.error(of: uncapped, against: Self.truth) <= 0.15, "\(uncapped)")
    }

    @Test("samples with non-finite, negative or empty figures are dropped")
    func hostileSamplesAreDropped() {
        var refitter = ProfileRefitter(configuration: .init(refitEvery: 1))
        let bad = [
            CalibrationSample(promptTokens: 100, prefillSeconds: .nan, batchSize: 1, decodeStepSeconds: -1),
            CalibrationSample(promptTokens: 0, prefillSeconds: 1, batchSize: 0, decodeStepSeconds: 1),
            CalibrationSample(promptTokens: .max, prefillSeconds: .infinity, batchSize: .min, decodeStepSeconds: .infinity),
        ]
        for sample in bad { #expect(refitter.observe(sample, isClaimed: false, current: Self.truth) == nil) }
        #expect(refitter.refits == 0)
    }
}
