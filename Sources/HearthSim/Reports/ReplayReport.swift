/// Per-class figures of one policy's run. Field names are the JSON keys of `hearth sim replay --json`.
public struct ClassReport: Codable, Sendable, Hashable {
    public var requests: Int
    /// Share of the class's requests that met both TTFT and TPOT targets (refused ones did not).
    public var slo_attainment: Double
    public var goodput_rps: Double
    public var refused: Int
    public var ttft_p50_ms: Double
    public var ttft_p99_ms: Double
    public var tpot_p50_ms: Double
    public var tpot_p99_ms: Double
    /// Requests that met both targets.
    public var met: Int = 0
    /// Requests served knowing their target would be missed (`--slo-policy best-effort`): neither met nor refused.
    public var best_effort: Int = 0
}

/// One policy's figures over the whole trace.
public struct PolicyReport: Codable, Sendable, Hashable {
    public var policy: String
    public var requests: Int
    public var slo_attainment: Double
    /// Requests per (simulated) second that met their targets.
    public var goodput_rps: Double
    public var refused: Int
    public var ttft_p50_ms: Double
    public var ttft_p99_ms: Double
    public var tpot_p50_ms: Double
    public var tpot_p99_ms: Double
    /// Share of prompt tokens served from a prefix cache.
    public var cached_prompt_share: Double
    /// Median |actual − predicted| TTFT of placed requests, ms (how well the scheduler foresaw it).
    public var ttft_prediction_error_p50_ms: Double
    public var classes: [String: ClassReport]
    public var met: Int = 0
    /// Requests served best effort (see ``ClassReport/best_effort``).
    public var best_effort: Int = 0
}

/// The result of `hearth sim replay`.
public struct ReplayReport: Codable, Sendable, Hashable {
    public var trace: String
    public var format: String
    /// Set when the trace file was absent and a generator stood in: the statistics it follows.
    public var generated_from: String?
    public var nodes: Int
    public var fleet: [String: Int]
    public var requests: Int
    public var load_scale: Double
    public var seed: UInt64
    /// Span of the (scaled) arrivals, seconds.
    public var duration_s: Double
    public var policies: [PolicyReport]
}
