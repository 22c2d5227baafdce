/// Everything `hearth sim plan` reports; field names are the JSON keys of `--json`.
public struct PlanReport: Codable, Sendable, Hashable {
    public struct TraceInfo: Codable, Sendable, Hashable {
        public var path: String
        public var format: String
        /// Set when the file was absent and a generator stood in.
        public var generated_from: String?
        public var share: Double
        public var requests: Int
    }

    public var scenario: String
    public var seed: UInt64
    public var scale: Double
    /// Counted seconds simulated per window (one window per simulated hour).
    public var duration_s: Double
    /// 1: the busy hour only; 24: every hour of a day.
    public var hours: Int
    /// Seconds simulated before each window, not counted.
    public var warmup_s: Double
    /// Hour of day (0–23) with the most demand in the daily profile.
    public var busy_hour: Int
    /// Demand by hour of day relative to the busy hour (the first trace's profile stretched over a day).
    public var hourly_demand_shape: [Double]
    public var policy: String
    public var model: String
    public var demand_rps: Double
    public var requests: Int
    public var traces: [TraceInfo]
    public var users: [String]
    public var deployments: [DeploymentReport]
    public var sweep: SweepReport?
}

/// One deployment's figures. Power, grid, fault and cost figures are at full scale (÷ ``PlanReport/scale``);
/// latency and SLO figures come from the simulated (scaled) fleet.
public struct DeploymentReport: Codable, Sendable, Hashable {
    public var name: String
    public var kind: String
    public var gpu: String
    public var gpus_per_node: Int
    /// Serving engines per node (its GPUs split among them).
    public var replicas_per_node: Int
    /// Each node's battery, kWh (0: none).
    public var battery_kwh: Double
    /// Full scale.
    public var gpus: Int
    public var nodes: Int
    /// Simulated (after scale).
    public var simulated_nodes: Int
    public var sites: [String]

    // Requests: served + refused + lost = requests.
    public var requests: Int
    public var served: Int
    public var refused: Int
    public var lost: Int
    public var slo_attainment: Double
    public var goodput_rps: Double
    public var classes: [String: ClassReport]
    public var ttft_p50_ms: Double
    public var ttft_p99_ms: Double
    public var tpot_p50_ms: Double
    public var tpot_p99_ms: Double
    /// (ms, cumulative share) points of each distribution.
    public var ttft_cdf: [[Double]]
    public var tpot_cdf: [[Double]]
    public var rtt_p50_ms: Double
    public var rtt_p99_ms: Double
    public var rtt_mean_ms: Double
    /// Peak streaming bitrate of the busiest node ÷ its uplink.
    public var uplink_peak_share: Double

    // Energy and grid.
    public var node_full_kw: Double
    public var pue: Double
    public var energy_kwh_per_million_tokens: Double
    /// Mean IT utilisation of the nodes in the simulated window (dynamic power share).
    public var window_utilization: Double
    public var nameplate_mw: Double
    /// Greatest hourly demand the deployment adds to the grid (facility, all sites), MW.
    public var peak_added_mw: Double
    /// Greatest hourly demand at one site's substation (data centre) or of homes + nodes at the substation (homes), MW.
    public var peak_substation_mw: Double
    /// Home fleets: greatest (homes + nodes) ÷ rating over transformers and steps, and the greatest node draw on one.
    public var transformer_peak_loading: Double?
    public var transformer_peak_added_kw: Double?
    public var home_limit_violations: Int?
    public var transformer_limit_violations: Int?
    /// Deployment's draw by hour of day, MW (homes: nodes only; see `hourly_homes_mw`).
    public var hourly_added_mw: [Double]
    public var hourly_homes_mw: [Double]?
    /// Counted requests and SLO attainment by hour of day (0 where the hour was not simulated).
    public var hourly_requests: [Int]
    public var hourly_slo_attainment: [Double]
    /// Share of node-time power-capped and drained (home fleets; 0 for data centres).
    public var capped_share: Double
    public var drained_share: Double
    public var interconnect_queue_years: Double

    // Faults.
    public var window_thefts: Int
    public var window_outages: Int
    public var window_requests_lost: Int
    public var thefts_per_year: Double
    public var outages_per_year: Double
    public var requests_interrupted_per_year: Double
    public var capacity_down_share: Double

    // Cost.
    public var capex_usd: Double
    public var annual_cost_usd: Double
    public var tokens_per_year: Double
    public var usd_per_million_tokens: Double
    /// Per million tokens: gpus, nodes (rest of the hardware and install), building, energy, maintenance, sites, theft.
    public var cost_breakdown: [String: Double]
}

public struct SweepReport: Codable, Sendable, Hashable {
    public struct Point: Codable, Sendable, Hashable {
        public var value: Double
        public var nodes: Int
        public var slo_attainment: Double
        public var ttft_p99_ms: Double
        public var tpot_p99_ms: Double
        public var rtt_p50_ms: Double
        public var energy_kwh_per_million_tokens: Double
        public var usd_per_million_tokens: Double
        public var capped_share: Double
        public var drained_share: Double
    }

    public var deployment: String
    public var parameter: String
    public var points: [Point]
}
