import Foundation
import HearthCore
import HearthProtocol
import Synchronization

/// One request's usage record in the making. ``finish(outcome:status:usage:)`` records it once;
/// later calls are ignored, so no code path can bill a request twice.
final class UsageTicket: Sendable {
    let requestID: String
    let tenant: String
    private let started: ContinuousClock.Instant
    private let ledger: UsageLedger
    private let metrics: GatewayMetrics
    private let state = Mutex(State())

    private struct State {
        var model = ""
        var taskClass = "unknown"
        var estimatedPromptTokens = 0
        var node: NodeID?
        var firstByte: ContinuousClock.Instant?
        var finished = false
        var attempts = 1
        var computed: (prompt: Int, completion: Int)?
        var onFinish: (@Sendable (_ usage: TokenUsage?, _ ranOnNode: Bool) -> Void)?
    }

    init(requestID: String, tenant: String, started: ContinuousClock.Instant, ledger: UsageLedger, metrics: GatewayMetrics) {
        self.requestID = requestID
        self.tenant = tenant
        self.started = started
        self.ledger = ledger
        self.metrics = metrics
    }

    func describe(model: String, taskClass: String, estimatedPromptTokens: Int) {
        state.withLock {
            $0.model = model
            $0.taskClass = taskClass
            $0.estimatedPromptTokens = estimatedPromptTokens
        }
    }

    func assign(_ node: NodeID) { state.withLock { $0.node = node } }

    /// The request moved to another node: the record names the last node and counts the attempts, with the
    /// tokens the fleet computed over all of them (the client is billed for what it received).
    func failedOver(to node: NodeID, attempts: Int, computedPromptTokens: Int, computedCompletionTokens: Int) {
        state.withLock {
            $0.node = node
            $0.attempts = attempts
            $0.computed = (computedPromptTokens, computedCompletionTokens)
        }
    }

    /// Runs `hook` once when the ticket finishes (at once if it already has): the tenant's limits are released
    /// there, on every path that ends a request.
    func onFinish(_ hook: @escaping @Sendable (_ usage: TokenUsage?, _ ranOnNode: Bool) -> Void) {
        let finished = state.withLock { state -> (TokenUsage?, Bool)? in
            guard !state.finished else { return (nil, state.node != nil) }
            state.onFinish = hook
            return nil
        }
        if let (usage, ran) = finished { hook(usage, ran) }
    }

    func firstByte() {
        state.withLock { state in
            if state.firstByte == nil { state.firstByte = .now }
        }
    }

    func finish(outcome: UsageRecord.Outcome, status: Int, usage: TokenUsage? = nil) {
        let now = ContinuousClock.now
        guard
            let state = state.withLock({ state -> State? in
                guard !state.finished else { return nil }
                state.finished = true
                return state
            })
        else { return }
        let ttft = state.firstByte.map { $0 - started }
        let total = now - started
        let record = UsageRecord(
            requestID: requestID,
            tenant: tenant,
            nodeID: state.node,
            model: state.model,
            taskClass: state.taskClass,
            promptTokens: usage?.promptTokens ?? (state.node == nil ? 0 : state.estimatedPromptTokens),
            completionTokens: usage?.completionTokens ?? 0,
            usageReportedByEngine: usage?.reportedByEngine ?? false,
            outcome: outcome,
            httpStatus: status,
            timeToFirstTokenMilliseconds: ttft?.milliseconds,
            totalMilliseconds: total.milliseconds,
            createdAt: Date(),
            attempts: state.attempts,
            computedPromptTokens: state.computed?.prompt,
            computedCompletionTokens: state.computed?.completion
        )
        ledger.record(record)
        state.onFinish?(usage, state.node != nil)
        metrics.requestFinished(outcome: outcome.rawValue, taskClass: state.taskClass, status: status)
        metrics.latency(total: total, timeToFirstToken: ttft, taskClass: state.taskClass)
        metrics.tokens(prompt: record.promptTokens, completion: record.completionTokens)
    }
}
