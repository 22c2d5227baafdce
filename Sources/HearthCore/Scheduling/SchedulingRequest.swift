/// What the scheduler needs to know about one request.
public struct SchedulingRequest: Sendable, Hashable {
    public var model: String
    public var taskClass: TaskClass
    public var promptTokens: Int
    public var maxOutputTokens: Int
    /// Hashes of the prompt's leading blocks of ``prefixBlockTokens`` tokens, in order (empty when unknown).
    public var prefixHashes: [UInt64]
    /// Tokens a prefix block stands for: ``NodeProfile/blockTokens`` (512, the traces' block) unless the hashes were
    /// made finer (the gateway's ``PromptPrefixHasher/routingBlockTokens``). Matched blocks × this = cached tokens.
    public var prefixBlockTokens: Int
    /// A stable key for a multi-turn conversation (for example a hash of its first message), if known.
    public var sessionKey: UInt64?
    /// When the request reached the gateway, in the caller's seconds.
    public var arrival: Double
    /// What the request takes when its targets cannot be met: a refusal (``SLOPolicy/strict``, the default of the
    /// core and the simulator) or best-effort service (what the gateway gives clients unless they ask for strict).
    public var sloPolicy: SLOPolicy

    public init(
        model: String, taskClass: TaskClass, promptTokens: Int, maxOutputTokens: Int,
        prefixHashes: [UInt64] = [], prefixBlockTokens: Int = NodeProfile.blockTokens, sessionKey: UInt64? = nil,
        arrival: Double, sloPolicy: SLOPolicy = .strict
    ) {
        self.prefixBlockTokens = max(1, prefixBlockTokens)
        self.sloPolicy = sloPolicy
        self.model = model
        self.taskClass = taskClass
        self.promptTokens = promptTokens
        self.maxOutputTokens = maxOutputTokens
        self.prefixHashes = prefixHashes
        self.sessionKey = sessionKey
        self.arrival = arrival
    }

    /// The key that affinity policies hash: the session key, else the first prefix block.
    @inlinable
    public var affinityKey: UInt64? { sessionKey ?? prefixHashes.first }
}

/// What a request takes when the scheduler predicts its targets will be missed.
public enum SLOPolicy: String, Sendable, Hashable, CaseIterable {
    /// Refused (429/503 with `Retry-After`) unless the targets can still be met, as a strict SLO asks.
    case strict
    /// Served anyway on the node predicted fastest, like an ordinary server's request: slots respected, a bounded
    /// wait for one, refused only for contention (admitting would push admitted requests past their targets) or
    /// when the wait is over. The miss is stated (``DecisionReason/bestEffort(predictedTTFT:target:)``).
    case bestEffort = "best-effort"

    /// The policies' names as clients and operators write them, for error messages: "strict, best-effort".
    public static let names = allCases.map(\.rawValue).joined(separator: ", ")
}
