/// Per-stream stall detection: a stream whose first token, or whose next token, is later than its class's
/// limit counts as failed (``StreamMigration/FailureCause/stalled``) and is migrated.
///
/// The gateway keeps one per stream, calls ``tokenArrived(now:)`` for every content event, arms a timer for
/// ``deadline`` and checks ``isStalled(now:)`` when it fires.
public struct StallDetector: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Longest gap between tokens per class. Defaults: chat 5 s, document 8 s, code 5 s, batch 30 s: far
        /// above any TPOT target (≤ 0.5 s) yet short enough that the client barely notices a migration.
        public var interTokenSeconds: [TaskClass: Double]
        /// First token: this many times the class's TTFT target for the prompt, and at least ``minimumFirstTokenSeconds``.
        public var firstTokenTargetMultiple: Double
        public var minimumFirstTokenSeconds: Double

        public init(
            interTokenSeconds: [TaskClass: Double] = [.chat: 5, .document: 8, .code: 5, .batch: 30], firstTokenTargetMultiple: Double = 3,
            minimumFirstTokenSeconds: Double = 10
        ) {
            self.interTokenSeconds = interTokenSeconds
            self.firstTokenTargetMultiple = firstTokenTargetMultiple
            self.minimumFirstTokenSeconds = minimumFirstTokenSeconds
        }

        public func interToken(_ taskClass: TaskClass) -> Double { interTokenSeconds[taskClass] ?? 10 }
    }

    public let taskClass: TaskClass
    public let limits: Limits
    public let firstTokenLimitSeconds: Double
    public private(set) var lastProgress: Double
    public private(set) var sawToken = false

    /// `started`: when the attempt was sent to the node; `ttftTarget`: the class target for this prompt.
    public init(taskClass: TaskClass, ttftTarget: Double, started: Double, limits: Limits = Limits()) {
        self.taskClass = taskClass
        self.limits = limits
        self.firstTokenLimitSeconds = max(limits.minimumFirstTokenSeconds, ttftTarget * limits.firstTokenTargetMultiple)
        self.lastProgress = started
    }

    public mutating func tokenArrived(now: Double) {
        sawToken = true
        lastProgress = max(lastProgress, now)
    }

    /// A migrated stream starts over: the next token is a first token again (it must prefill the prefix).
    public mutating func restart(now: Double) {
        sawToken = false
        lastProgress = now
    }

    /// When the stream counts as stalled if nothing arrives before.
    public var deadline: Double {
        lastProgress + (sawToken ? limits.interToken(taskClass) : firstTokenLimitSeconds)
    }

    public func isStalled(now: Double) -> Bool { now >= deadline }
}
