import HearthCore

/// One workload at one load level: how many requests were sent and matched, and the error of each metric.
public struct ValidationRow: Sendable, Hashable, Codable {
    public var workload: String
    public var concurrency: Int
    public var requests: Int
    /// Requests both served by the engine and simulated.
    public var matched: Int
    public var ttft: MetricComparison?
    public var tpot: MetricComparison?
    public var e2e: MetricComparison?
    /// Each matched request, real next to simulated (empty in the overall row).
    public var pairs: [ValidationPair] = []
    /// The MAPEs of the simulator without the validation's model terms (``ValidationSimulation/baselineConfiguration()``).
    public var baseline: ValidationErrors?
    /// The engine's speed checked before the level, which the simulated profile was scaled to (nil: not checked).
    public var speed: EngineSpeed?
    /// The MAPEs with the profile as calibrated, not scaled to ``speed`` (nil when the speed was not checked).
    public var calibratedOnce: ValidationErrors?

    enum CodingKeys: String, CodingKey {
        case workload, concurrency, requests, matched, ttft, tpot, e2e, pairs, baseline, speed
        case calibratedOnce = "calibrated_once"
    }
}

/// The three MAPEs of a row, percent.
public struct ValidationErrors: Sendable, Hashable, Codable {
    public var ttft: Double?
    public var tpot: Double?
    public var e2e: Double?

    public init(_ row: ValidationRow) {
        ttft = row.ttft?.mape
        tpot = row.tpot?.mape
        e2e = row.e2e?.mape
    }
}

/// One request, real next to simulated.
public struct ValidationPair: Sendable, Hashable, Codable {
    public var id: Int
    public var sentAt: Double
    public var promptTokens: Int
    public var realCachedTokens: Int?
    public var simulatedCachedTokens: Int
    public var outputTokens: Int
    public var realTTFT: Double
    public var simulatedTTFT: Double
    public var realTPOT: Double?
    public var simulatedTPOT: Double?
    public var realE2E: Double
    public var simulatedE2E: Double

    init(_ real: ValidationObservation, _ simulated: SimulatedTiming) {
        id = real.id
        sentAt = real.sentAt
        promptTokens = real.promptTokens
        realCachedTokens = real.cachedTokens
        simulatedCachedTokens = simulated.cachedTokens
        outputTokens = real.completionTokens
        realTTFT = real.ttft
        simulatedTTFT = simulated.ttft
        realTPOT = real.tpot
        simulatedTPOT = simulated.tpot
        realE2E = real.e2e
        simulatedE2E = simulated.e2e
    }

    enum CodingKeys: String, CodingKey {
        case id
        case sentAt = "sent_at_s"
        case promptTokens = "prompt_tokens"
        case realCachedTokens = "real_cached_tokens"
        case simulatedCachedTokens = "sim_cached_tokens"
        case outputTokens = "output_tokens"
        case realTTFT = "real_ttft_s"
        case simulatedTTFT = "sim_ttft_s"
        case realTPOT = "real_tpot_s"
        case simulatedTPOT = "sim_tpot_s"
        case realE2E = "real_e2e_s"
        case simulatedE2E = "sim_e2e_s"
    }
}

/// The report of `hearth sim validate`.
public struct ValidationReport: Sendable, Codable {
    public var engineURL: String
    public var model: String
    /// The profile the simulator ran with.
    public var profile: ValidationProfile
    public var profileSource: String
    public var contextTokens: Int
    public var rows: [ValidationRow]
    /// Over every row: the whole run's MAPE of each metric (each request weighs the same).
    public var overall: ValidationRow?

    public init(
        engineURL: String, model: String, profile: ValidationProfile, profileSource: String, contextTokens: Int, rows: [ValidationRow],
        overall: ValidationRow?
    ) {
        self.engineURL = engineURL
        self.model = model
        self.profile = profile
        self.profileSource = profileSource
        self.contextTokens = contextTokens
        self.rows = rows
        self.overall = overall
    }

    enum CodingKeys: String, CodingKey {
        case engineURL = "engine_url"
        case model, profile
        case profileSource = "profile_source"
        case contextTokens = "context_tokens"
        case rows, overall
    }
}
