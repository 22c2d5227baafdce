/// Request migration (after NVIDIA Dynamo's): when the node running a request dies, its link drops, it stalls
/// or its engine fails, resume the request on another eligible node with the original prompt plus the text
/// already delivered to the client as the new prefix, bounded by ``Limits`` and the gateway's ``RetryBudget``,
/// and keeping the request's data class (the plan carries the same ``RequestSecurity`` with the failed nodes
/// excluded).
///
/// One value per request, kept by the gateway beside the ``SSEStreamSplicer`` that tracks what was delivered.
/// Non-streamed requests use it too: nothing was delivered, so a resume is a plain retry within the deadline.
public struct StreamMigration: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Attempts in all, the first included. Default 3.
        public var maxAttempts: Int
        /// No new attempt starts later than this after the request arrived. Default 120 s (batch: 600 s).
        public var maxTotalSeconds: Double
        public var maxTotalSecondsBatch: Double

        public init(maxAttempts: Int = 3, maxTotalSeconds: Double = 120, maxTotalSecondsBatch: Double = 600) {
            self.maxAttempts = max(1, maxAttempts)
            self.maxTotalSeconds = maxTotalSeconds
            self.maxTotalSecondsBatch = maxTotalSecondsBatch
        }
    }

    /// Why an attempt ended early.
    public enum FailureCause: Sendable, Hashable {
        case tunnelClosed
        case heartbeatLost
        case stalled
        /// The node handed the request back (draining for power, quarantined, shutting down).
        case handedBack
        /// The engine failed; `status` is its HTTP status when it gave one.
        case engineError(status: Int?)
        case clientGone

        /// Whether another node could succeed: not when the client left, nor when the engine rejected the
        /// request itself (4xx other than 408 and 429).
        public var isRetryable: Bool {
            switch self {
            case .clientGone: return false
            case .engineError(let status?): return !(400..<500).contains(status) || status == 408 || status == 429
            default: return true
            }
        }
    }

    /// What the client has already received (from ``SSEStreamSplicer/delivered``).
    public struct Delivered: Sendable, Hashable {
        public var text: String
        /// Completion tokens the client received (engine-reported where known, else one per content chunk).
        public var completionTokens: Int
        /// A finish reason was already delivered: the answer is complete, only `[DONE]` is missing.
        public var finished: Bool

        public init(text: String = "", completionTokens: Int = 0, finished: Bool = false) {
            self.text = text
            self.completionTokens = completionTokens
            self.finished = finished
        }
    }

    public struct ResumePlan: Sendable {
        /// 2 for the first migration.
        public var attempt: Int
        /// The request to schedule: prompt grown by the delivered tokens, output budget shrunk by them, and
        /// `arrival` = now (the client is mid-stream; the TTFT target now bounds the gap).
        public var request: SchedulingRequest
        /// The same tenant and data class, every node that failed this request excluded. Refresh
        /// ``RequestSecurity/occupancy`` from the current one before deciding.
        public var security: RequestSecurity
        /// Text to append as the assistant prefix (chat) or to the prompt (completions): see ``ContinuationBody``.
        public var continuation: String
        public var remainingMaxTokens: Int
        /// No attempt may start after this.
        public var deadline: Double
    }

    public enum GiveUpReason: Sendable, Hashable, CustomStringConvertible {
        case notRetryable(FailureCause)
        case attemptsExhausted(Int)
        case deadlinePassed
        case retryBudgetExhausted
        /// The answer was already complete (finish reason delivered) or no output budget is left: just end it.
        case alreadyComplete

        public var description: String {
            switch self {
            case .notRetryable(let cause): "not retryable: \(cause)"
            case .attemptsExhausted(let n): "gave up after \(n) attempts"
            case .deadlinePassed: "migration deadline passed"
            case .retryBudgetExhausted: "gateway retry budget exhausted"
            case .alreadyComplete: "answer already complete"
            }
        }
    }

    public enum Decision: Sendable {
        case resume(ResumePlan)
        case giveUp(GiveUpReason)
    }

    public let original: SchedulingRequest
    public let security: RequestSecurity
    public let limits: Limits
    public private(set) var attempts = 1
    public private(set) var failedNodes: [NodeID] = []
    public private(set) var currentNode: NodeID?

    public init(original: SchedulingRequest, security: RequestSecurity, limits: Limits = Limits(), firstNode: NodeID? = nil) {
        self.original = original
        self.security = security
        self.limits = limits
        self.currentNode = firstNode
    }

    /// Whether the request has moved at least once (record it as failed over in the fleet store).
    public var failedOver: Bool { attempts > 1 }

    /// The attempt placed on `node`.
    public mutating func placed(on node: NodeID) {
        currentNode = node
    }

    /// Decides what to do after the current attempt failed. A `.resume` consumes one retry from `budget` and
    /// counts the attempt; place ``ResumePlan/request`` with `Scheduler.decide(_:security:fleet:now:)`, then call
    /// ``placed(on:)``. When no node can take it, call ``noNodeAvailable()``.
    public mutating func attemptFailed(
        _ cause: FailureCause, delivered: Delivered, now: Double, budget: inout RetryBudget
    ) -> Decision {
        if let node = currentNode, !failedNodes.contains(node) { failedNodes.append(node) }
        currentNode = nil
        guard cause.isRetryable else { return .giveUp(.notRetryable(cause)) }
        let remaining = original.maxOutputTokens - delivered.completionTokens
        if delivered.finished || remaining <= 0 { return .giveUp(.alreadyComplete) }
        guard attempts < limits.maxAttempts else { return .giveUp(.attemptsExhausted(attempts)) }
        let deadline = original.arrival + (original.taskClass == .batch ? limits.maxTotalSecondsBatch : limits.maxTotalSeconds)
        guard now < deadline else { return .giveUp(.deadlinePassed) }
        guard budget.tryRetry(now: now) else { return .giveUp(.retryBudgetExhausted) }
        attempts += 1
        var request = original
        request.promptTokens = original.promptTokens + delivered.completionTokens
        request.maxOutputTokens = remaining
        request.arrival = now
        var security = self.security
        security.excludedNodes.formUnion(failedNodes)
        return .resume(
            ResumePlan(
                attempt: attempts, request: request, security: security, continuation: delivered.text,
                remainingMaxTokens: remaining, deadline: deadline))
    }

    /// The scheduler found no node for a resume: the attempt counts as failed without a node.
    public mutating func noNodeAvailable() {
        currentNode = nil
    }
}
