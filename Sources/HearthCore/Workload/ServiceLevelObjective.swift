/// A latency target for one task class.
///
/// TTFT's target grows with the prompt: `ttftSeconds + ttftSecondsPerThousandPromptTokens × prompt/1000`,
/// because prefill work is proportional to the prompt and no node can answer a 100k-token document
/// as fast as a one-line question. A request *meets* its objective when both its TTFT and its mean
/// TPOT are within target; the class is healthy when at least `percentile` of requests meet it.
public struct ServiceLevelObjective: Sendable, Hashable, Codable {
    public var ttftSeconds: Double
    public var ttftSecondsPerThousandPromptTokens: Double
    public var tpotSeconds: Double
    /// Share of requests (0...1) that must meet the targets, for dashboards and alerts.
    public var percentile: Double

    public init(ttftSeconds: Double, ttftSecondsPerThousandPromptTokens: Double = 0, tpotSeconds: Double, percentile: Double = 0.99) {
        self.ttftSeconds = ttftSeconds
        self.ttftSecondsPerThousandPromptTokens = ttftSecondsPerThousandPromptTokens
        self.tpotSeconds = tpotSeconds
        self.percentile = percentile
    }

    /// The TTFT target for a prompt of `promptTokens` tokens.
    @inlinable
    public func ttftTarget(promptTokens: Int) -> Double {
        ttftSeconds + ttftSecondsPerThousandPromptTokens * Double(promptTokens) / 1000
    }

    /// Whether an observed or predicted (TTFT, TPOT) pair meets this objective.
    @inlinable
    public func isMet(ttft: Double, tpot: Double, promptTokens: Int) -> Bool {
        ttft <= ttftTarget(promptTokens: promptTokens) && tpot <= tpotSeconds
    }
}

/// The objectives of every task class. Configurable; ``default`` documents Hearth's defaults.
public struct ClassTargets: Sendable, Hashable, Codable {
    public var chat: ServiceLevelObjective
    public var document: ServiceLevelObjective
    public var code: ServiceLevelObjective
    public var batch: ServiceLevelObjective

    public init(chat: ServiceLevelObjective, document: ServiceLevelObjective, code: ServiceLevelObjective, batch: ServiceLevelObjective) {
        self.chat = chat
        self.document = document
        self.code = code
        self.batch = batch
    }

    /// Hearth's defaults (reasoning in `docs/SCHEDULER.md`):
    /// - chat: TTFT 1 s + 0.1 s per 1k prompt tokens, TPOT 100 ms (10 tok/s, faster than people read), p99.
    /// - document: TTFT 2 s + 0.2 s per 1k prompt tokens, TPOT 150 ms, p99.
    /// - code: TTFT 1.5 s + 0.1 s per 1k, TPOT 50 ms (20 tok/s; code is skimmed or consumed by tools), p99.
    /// - batch: TTFT 600 s (a deadline in minutes), TPOT 500 ms, p90.
    public static let `default` = ClassTargets(
        chat: .init(ttftSeconds: 1.0, ttftSecondsPerThousandPromptTokens: 0.1, tpotSeconds: 0.100, percentile: 0.99),
        document: .init(ttftSeconds: 2.0, ttftSecondsPerThousandPromptTokens: 0.2, tpotSeconds: 0.150, percentile: 0.99),
        code: .init(ttftSeconds: 1.5, ttftSecondsPerThousandPromptTokens: 0.1, tpotSeconds: 0.050, percentile: 0.99),
        batch: .init(ttftSeconds: 600, ttftSecondsPerThousandPromptTokens: 0, tpotSeconds: 0.500, percentile: 0.90)
    )

    public subscript(taskClass: TaskClass) -> ServiceLevelObjective {
        get {
            switch taskClass {
            case .chat: chat
            case .document: document
            case .code: code
            case .batch: batch
            }
        }
        set {
            switch taskClass {
            case .chat: chat = newValue
            case .document: document = newValue
            case .code: code = newValue
            case .batch: batch = newValue
            }
        }
    }
}
