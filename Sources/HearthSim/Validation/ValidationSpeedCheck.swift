/// How the engine's speed compares with its calibration at one moment: its prefill and decode times over what the
/// calibrated profile predicts for the same requests (1.25: a quarter slower than calibrated).
///
/// A shared machine's engine changes speed by a fifth within minutes (measured on this project's 2-core VM), about as
/// much as the simulator's error being measured. `hearth sim validate --speed-check` checks the speed before every load
/// level and simulates that level with the profile scaled to it, and reports both the factors and the error without
/// them. It is off by default: on this machine three probes measured the speed no better than the drift they were to
/// correct (docs/BENCHMARKS.md), so the check shows the drift more reliably than it removes it.
public struct EngineSpeed: Sendable, Hashable, Codable {
    /// Prefill time now over the calibrated profile's prediction.
    public var prefill: Double
    /// Decode step time now over the calibrated profile's prediction.
    public var decode: Double

    /// The factors a check may report: beyond them the engine is not the one calibrated, and the check is ignored.
    public static let plausible: ClosedRange<Double> = 0.25...4

    public static let calibrated = EngineSpeed(prefill: 1, decode: 1)

    public init(prefill: Double, decode: Double) {
        self.prefill = Self.plausible.contains(prefill) ? prefill : 1
        self.decode = Self.plausible.contains(decode) ? decode : 1
    }

    /// `profile` with its prefill terms scaled by ``prefill`` and its decode terms by ``decode``.
    public func applied(to profile: ValidationProfile) -> ValidationProfile {
        var scaled = profile
        scaled.node.prefillTokensPerSecond = profile.node.prefillTokensPerSecond / prefill
        scaled.node.prefillOverheadSeconds = profile.node.prefillOverheadSeconds * prefill
        scaled.prefillSecondsPerContextToken = profile.prefillSecondsPerContextToken * prefill
        scaled.node.decodeBaseSeconds = profile.node.decodeBaseSeconds * decode
        scaled.node.decodePerSequenceSeconds = profile.node.decodePerSequenceSeconds * decode
        scaled.decodeSecondsPerContextToken = profile.decodeSecondsPerContextToken * decode
        return scaled
    }
}

/// A few seconds of probes before a load level: fresh prompts answered one at a time, each timed for its prefill and
/// its decode at batch one, compared with what the calibrated profile predicts for them (medians of the ratios).
public struct ValidationSpeedCheck: Sendable {
    public var promptTokens: Int
    public var outputTokens: Int
    public var probes: Int

    public init(promptTokens: Int = 192, outputTokens: Int = 32, probes: Int = 3) {
        self.promptTokens = max(16, promptTokens)
        self.outputTokens = max(9, outputTokens)
        self.probes = max(1, probes)
    }

    /// The probes before level `level`: fresh text, so nothing is served from cache.
    public func requests(level: Int) -> [ValidationRequest] {
        (0..<probes).map { index in
            let key = ValidationPromptText.mix(0x5350_4545_44, UInt64(truncatingIfNeeded: level) &* 64 &+ UInt64(index))
            return ValidationRequest(
                id: index, workload: "speed-check", conversation: index, segments: [PromptSegment(key: key, tokens: promptTokens)],
                outputTokens: outputTokens, taskClass: .chat)
        }
    }

    /// Sends the probes one after another and compares; ``EngineSpeed/calibrated`` when none was answered.
    public func run(level: Int, profile: ValidationProfile, client: any ValidationEngineClient) async -> EngineSpeed {
        var observations: [ValidationObservation] = []
        for request in requests(level: level) {
            if let observed = try? await client.send(request, sentAt: 0) { observations.append(observed) }
        }
        return Self.speed(of: observations, against: profile)
    }

    /// The median ratio of each observed time to the profile's prediction for the same request, as the validation's
    /// simulator computes it (prefill with its attention term; a decode step at batch one over prompt plus half the
    /// answer).
    public static func speed(of observations: [ValidationObservation], against profile: ValidationProfile) -> EngineSpeed {
        var prefillRatios: [Double] = []
        var decodeRatios: [Double] = []
        let node = profile.node
        let simulated = ValidationSimulation.validationConfiguration(profile)
        for observation in observations {
            let cached = min(max(0, observation.cachedTokens ?? 0), max(0, observation.promptTokens - 1))
            let computed = Double(max(1, observation.promptTokens - cached))
            let prefill =
                node.prefillSeconds(tokens: Int(computed))
                + simulated.prefillAttentionSeconds(computedTokens: computed, cachedTokens: Double(cached))
            if observation.ttft.isFinite, observation.ttft > 0, prefill > 0 { prefillRatios.append(observation.ttft / prefill) }
            let context = Double(observation.promptTokens) + Double(observation.completionTokens) / 2
            let step = node.decodeStepSeconds(batch: 1) + simulated.decodeSecondsPerContextToken * context
            if let tpot = observation.tpot, tpot.isFinite, tpot > 0, step > 0, observation.completionTokens > 8 {
                decodeRatios.append(tpot / step)
            }
        }
        return EngineSpeed(
            prefill: prefillRatios.isEmpty ? 1 : ValidationCalibration.median(prefillRatios),
            decode: decodeRatios.isEmpty ? 1 : ValidationCalibration.median(decodeRatios))
    }
}
