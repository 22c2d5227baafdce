public import HearthCore

/// Settings for one gateway. Every field has a default; only the CLI reads flags and environment.
public struct GatewayConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port; ``Gateway/ready()`` reports the one bound.
    public var port = 8080
    /// Largest request body accepted (413 above it).
    public var maximumBodyBytes = 16 << 20
    /// How long a node may take to produce the first byte of an answer before the client gets 504.
    /// Largest non-streamed answer the gateway buffers for a client (502 above it); streamed answers
    /// are bounded by each stream's flow-control window instead.
    public var maximumAnswerBytes = 16 << 20
    public var firstByteTimeout: Duration = .seconds(120)
    public var tunnel = TunnelServerConfiguration()
    /// How the scheduler places requests: `slo-aware` (default), `least-loaded`, `prefix-affinity`, `round-robin`.
    public var schedulingPolicy: SchedulingPolicyKind = .sloAware
    /// Latency targets per task class; a request no node can serve within its class target is queued
    /// while it still can be, then refused (429/503). See docs/SCHEDULER.md for the defaults' reasoning.
    public var classTargets: ClassTargets = .default
    /// Transformers, homes and grid groups of the nodes (see docs/POWER.md); empty: no transformer limits.
    public var power = PowerSiteConfiguration()
    /// The utility's OpenADR 3.1 VTN to take grid events from; nil: none.
    public var openADR: OpenADRConfiguration?
    /// Mid-answer failover: attempts in all (the first included) and the gateway-wide retry budget.
    public var migrationLimits = StreamMigration.Limits()
    public var retryBudget = RetryBudget.Configuration()

    public init() {}
}
