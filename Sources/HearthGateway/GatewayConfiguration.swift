public import Foundation
public import HearthCore

/// Settings for one gateway. Every field has a default; only the CLI reads flags and environment.
public struct GatewayConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port; ``Gateway/ready()`` reports the one bound.
    public var port = 8080
    /// Serve the client API over HTTPS only (TLS 1.2+); nil: plain HTTP (loopback and development).
    public var clientTLS: ClientTLS?
    /// Largest request body accepted (413 above it).
    public var maximumBodyBytes = 16 << 20
    /// How long a node may take to produce the first byte of an answer before the client gets 504.
    /// Largest non-streamed answer the gateway buffers for a client (502 above it); streamed answers
    /// are bounded by each stream's flow-control window instead.
    public var maximumAnswerBytes = 16 << 20
    /// Longest server-sent event a node may stream; a node that sends more without an event boundary loses the
    /// stream (the gateway relays whole events only, so it holds the partial one). Default 1 MiB.
    public var maximumEventBytes = 1 << 20
    /// Most of a streamed answer the gateway keeps to resume it on another node if its node fails; a longer
    /// answer is relayed on, but can no longer fail over. Default 4 MiB (about 25,000 tokens of events).
    public var maximumReplayBytes = 4 << 20
    /// How many provable lies (``AnswerAudit/Lie``) within what window cost a node its standing (quarantine for
    /// misbehaviour). Default: 3 within 10 minutes.
    public var nodeConduct = NodeConduct()
    /// What a request takes when no node can meet its class target: served best effort (default: slots respected,
    /// a bounded wait, `X-Hearth-SLO: best-effort`) or refused (`strict`). A client overrides it per request with
    /// `X-Hearth-SLO-Policy`.
    public var defaultSLOPolicy: SLOPolicy = .bestEffort
    public var firstByteTimeout: Duration = .seconds(120)
    /// How long a client connection may send nothing while the gateway waits for it: a request head that is not
    /// complete, a body that stops, an idle keep-alive connection. Then it is closed (slowloris). Default 30 s.
    public var clientIdleTimeout: Duration = .seconds(30)
    /// A second listener that serves `/metrics` without an operator key, for a private network; nil: none (the
    /// client port serves `/metrics` to requests carrying an operator key only).
    public var metricsListener: MetricsListener?
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
    /// The floor of 8 retries a second lets a node's in-flight streams (its slots) all fail over at once even on
    /// a quiet gateway; the 20 % ratio bounds what an outage can add to a busy one.
    public var retryBudget = RetryBudget.Configuration(ratio: 0.2, minRetriesPerSecond: 8)
    /// How long a retry (after its node failed) may wait for a node to free a slot. A new request is refused once
    /// its target is lost, but a retry's client is already waiting for an answer that is partly delivered: the
    /// surviving nodes are often full for a moment when a node's streams all fail over at once. Default 10 s.
    public var retryQueueSeconds: Double = 10
    /// When a stream that stops sending counts as stalled and moves to another node: longest gap between tokens
    /// per task class (chat 5 s, document 8 s, code 5 s, batch 30 s). The first token has ``firstByteTimeout``.
    public var stallLimits = StallDetector.Limits()
    /// Racing a second node for the first token when the scheduler predicts the first may miss its TTFT target.
    /// Off by default; `hearth_hedges_total{outcome}` says whether it pays off (docs/RESILIENCE.md).
    public var hedging = HedgingPolicy()

    // MARK: tenants (docs/SECURITY.md, Tenants)

    /// Nodes this gateway treats as attested for confidential computing (label `attestation=confidential-computing`,
    /// so they may serve `confidential` tenants). A stand-in for verifying each node's TEE quote (SEV-SNP/TDX with
    /// a confidential-computing GPU) at enrollment: until that exists, only the operator's word counts, and a node's
    /// own claim never does.
    public var attestedNodes: Set<NodeID> = []
    /// Nodes that stand in a data centre (label `site=data-centre`): they may serve `confidential` tenants too.
    public var dataCentreNodes: Set<NodeID> = []
    /// How long a node must be free of tamper events to serve `sensitive` and `confidential` tenants. Default 7 days.
    public var sensitiveCleanWindowSeconds: Double = 7 * 24 * 3600
    /// How long a request that other tenants' isolated work keeps off every node waits for one (then 429).
    public var isolationWaitSeconds: Double = 30
    /// The secret behind prefix-cache salts and salted routing (HMAC key, at least 32 bytes). Random per process by
    /// default; `hearth gateway` keeps it in `<data-dir>/cache-secret` so salts survive restarts, and gateway
    /// replicas of one fleet must share it.
    public var cacheSecret: [UInt8] = GatewayConfiguration.randomCacheSecret()
    /// Engine kinds (`NodeHello.engineKind`) the operator vouches for as honouring a per-request `cache_salt`, for
    /// engines that cannot show it at join (vLLM without `--enable-prompt-tokens-details` reports no cache hits).
    /// Empty by default: a node's engine gets tenants' salts only when it showed at join that it honours them
    /// (`NodeHello.cacheSaltProbe`); every other engine gets no prompt-cache sharing (`cache_prompt: false` and a
    /// fresh salt per request). A kind is no proof: `--engine openai` in front of a llama-server ignores the salt.
    public var saltingEngineKinds: Set<String> = []
    /// Let `standard` tenants keep prompt-cache reuse on engines without a salt (llama.cpp), accepting the
    /// cross-tenant timing leak that carries. Default false.
    public var standardMayShareOnSaltlessEngines = false
    /// The clock behind per-tenant rate limits and the API-key cache (a manual clock in tests).
    public var tenantClock: any Clock<Duration> = ContinuousClock()
    /// What tokens cost per model and task class (`hearth gateway --prices FILE`): each usage row's cost, and what
    /// tenants' budgets are spent against. Default: free.
    public var prices = PriceBook.free
    /// The wall clock usage rows are dated by and budget periods (UTC days and months) judged by (a test's own).
    public var wallClock: @Sendable () -> Date = { Date() }
    /// How long a key's tenant policy is served from memory before the store is read again: the most a key revoked
    /// (or a policy changed) by another process, such as `hearth keys revoke`, keeps working. 0 reads the store on
    /// every request. Changes made through this gateway take effect at once.
    public var apiKeyCacheSeconds: Double = 1
    /// On shutdown (SIGTERM, SIGINT) the gateway stops taking requests and lets those in flight finish for up to this
    /// long before it closes the node tunnels (``GatewayDrain``). Default 30 s.
    public var drainTime: Duration = .seconds(30)

    /// Whether an answer ends only once its usage row is committed (nil: yes on a PostgreSQL store, where replicas
    /// share the fleet and one may be killed at any moment; no on SQLite).
    public var commitsUsageBeforeAnswersEnd: Bool?

    public init() {}
}
