import Foundation
import HearthCore
import HearthProtocol
import Synchronization

/// One request's usage record in the making. ``finish(outcome:status:usage:)`` records it once;
/// later calls are ignored, so no code path can bill a request twice.
///
/// A node's token counts are claims: every path bills through ``AnswerAudit`` against the bounds the request
/// itself sets and what the gateway relayed, and a claim outside them is reported as the node's lie.
final class UsageTicket: Sendable {
    let requestID: String
    let tenant: String
    private let started: ContinuousClock.Instant
    private let ledger: UsageLedger
    private let metrics: GatewayMetrics
    /// The class objectives answers are judged against (`hearth_slo_requests_total`).
    private let targets: ClassTargets
    private let conduct: NodeConductMonitor?
    /// Prices each row and adds its cost to the tenant's spend (nil: no prices, every row costs 0).
    private let spend: TenantSpend?
    /// The key the request came with (``APIKeyRecord/id``), for the row.
    private let keyID: String?
    /// The wall clock rows are dated by (and budgets' periods judged by).
    private let wallClock: @Sendable () -> Date
    private let state = Mutex(State())
    /// The commit of this request's row, when the ledger makes answers wait for it.
    private let commit = Mutex<UsageCommit?>(nil)
    /// Hooks for the end of the answer on the wire, and whether it came: at ``finish(outcome:status:usage:answerEndsLater:)``
    /// unless that says the relay ends the answer itself later (``answerEnded()``).
    private let end = Mutex<(ended: Bool, hooks: [@Sendable () -> Void])>((false, []))

    private struct State {
        var model = ""
        var taskClass = "unknown"
        var estimatedPromptTokens = 0
        var node: NodeID?
        var firstByte: ContinuousClock.Instant?
        var finished = false
        var attempts = 1
        var computed: (prompt: Int, completion: Int)?
        /// The body's size and the client's `max_tokens` (nil until the request is parsed): the bounds of the bill.
        var requestBytes: Int?
        var maxOutputTokens: Int?
        /// The client reads the answer token by token: its pace after the first token is the TPOT it sees.
        var streamed = false
        /// The context of the model on the node that ran the request: the completion ceiling without `max_tokens`.
        var contextTokens: Int?
        var relayed = AnswerAudit.Relayed()
        /// How the node that serves was chosen (`target` or `best-effort`): the usage row's `slo`.
        var slo: String?
        var onFinish: [@Sendable (_ usage: TokenUsage?, _ ranOnNode: Bool) -> Void] = []
    }

    init(
        requestID: String, tenant: String, started: ContinuousClock.Instant, ledger: UsageLedger, metrics: GatewayMetrics,
        conduct: NodeConductMonitor? = nil, targets: ClassTargets = .default, spend: TenantSpend? = nil, keyID: String? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.spend = spend
        self.keyID = keyID
        self.wallClock = now
        self.targets = targets
        self.requestID = requestID
        self.tenant = tenant
        self.started = started
        self.ledger = ledger
        self.metrics = metrics
        self.conduct = conduct
    }

    func describe(
        model: String, taskClass: String, estimatedPromptTokens: Int, requestBytes: Int, maxOutputTokens: Int?, streamed: Bool = false
    ) {
        state.withLock {
            $0.streamed = streamed
            // The client's own string, kept short: an unknown 16 MiB model name is not stored in the ledger.
            $0.model = String(decoding: model.utf8.prefix(Self.modelBytes), as: UTF8.self)
            $0.taskClass = taskClass
            $0.estimatedPromptTokens = estimatedPromptTokens
            $0.requestBytes = requestBytes
            $0.maxOutputTokens = maxOutputTokens
        }
    }

    /// What the gateway itself relayed to the client so far (the floor of the completion bill).
    func relayed(_ relayed: AnswerAudit.Relayed) { state.withLock { $0.relayed = relayed } }

    /// The request runs on `session`'s node now.
    func assign(_ session: NodeSession) {
        let model = state.withLock { $0.model }
        let context = session.hello.models.first { $0.id == model }?.contextTokens
        state.withLock {
            $0.node = session.id
            $0.contextTokens = context
        }
    }

    /// The node that serves was placed for the class target (`bestEffort` false) or best-effort, the target already missed.
    func placed(bestEffort: Bool) {
        state.withLock { $0.slo = bestEffort ? SLOPolicy.bestEffort.rawValue : "target" }
    }

    /// The request moved to another node: the record names the last node and counts the attempts, with the
    /// tokens the fleet computed over all of them (the client is billed for what it received).
    func failedOver(to node: NodeID, attempts: Int, computedPromptTokens: Int, computedCompletionTokens: Int) {
        let ceiling = 0...AnswerAudit.countCeiling
        state.withLock {
            $0.node = node
            $0.attempts = attempts
            // Nodes' own counts, kept for the operator's record only (never billed): bounded, never summed past overflow.
            $0.computed = (AnswerAudit.clamp(computedPromptTokens, ceiling), AnswerAudit.clamp(computedCompletionTokens, ceiling))
        }
    }

    /// Runs `hook` once the answer has ended on the wire (at once if it has): the replica's in-flight count is released
    /// there, so that a drain waits for an answer whose end waits for its bill.
    func onAnswerEnd(_ hook: @escaping @Sendable () -> Void) {
        let ended = end.withLock { end in
            if !end.ended { end.hooks.append(hook) }
            return end.ended
        }
        if ended { hook() }
    }

    /// The relay wrote the end of the answer (after ``settled(atMost:)``); see ``onAnswerEnd(_:)``.
    func answerEnded() {
        let hooks = end.withLock { end -> [@Sendable () -> Void] in
            guard !end.ended else { return [] }
            end.ended = true
            defer { end.hooks = [] }
            return end.hooks
        }
        for hook in hooks { hook() }
    }

    /// Runs `hook` once when the ticket finishes (at once if it already has), after the hooks added before it: the
    /// tenant's limits and the replica's in-flight count are released there, on every path that ends a request.
    func onFinish(_ hook: @escaping @Sendable (_ usage: TokenUsage?, _ ranOnNode: Bool) -> Void) {
        let finished = state.withLock { state -> (TokenUsage?, Bool)? in
            guard !state.finished else { return (nil, state.node != nil) }
            state.onFinish.append(hook)
            return nil
        }
        if let (usage, ran) = finished { hook(usage, ran) }
    }

    func firstByte() {
        state.withLock { state in
            if state.firstByte == nil { state.firstByte = .now }
        }
    }

    /// - Parameter answerEndsLater: the relay ends the answer on the wire after this (it waits for the bill first) and
    ///   calls ``answerEnded()`` then; otherwise the answer counts as ended here.
    func finish(outcome: UsageRecord.Outcome, status: Int, usage: TokenUsage? = nil, answerEndsLater: Bool = false) {
        defer { if !answerEndsLater { answerEnded() } }
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
        let usage = bill(usage, state: state)
        var record = UsageRecord(
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
            createdAt: wallClock(),
            attempts: state.attempts,
            computedPromptTokens: state.computed?.prompt,
            computedCompletionTokens: state.computed?.completion,
            slo: state.slo,
            cachedPromptTokens: usage?.cachedPromptTokens
        )
        record.apiKeyID = keyID
        if let spend {
            record.costMicros = spend.prices.costMicros(
                model: record.model, taskClass: record.taskClass, promptTokens: record.promptTokens,
                completionTokens: record.completionTokens)
        }
        let commit = ledger.record(record)
        self.commit.withLock { $0 = commit }
        spend?.charged(tenant, micros: record.costMicros, at: record.createdAt)
        for hook in state.onFinish { hook(usage, state.node != nil) }
        metrics.requestFinished(outcome: outcome.rawValue, taskClass: state.taskClass, status: status)
        let ttftSeconds = ttft?.seconds
        let totalSeconds = total.seconds
        // A buffered answer's first byte comes after its last token: only a stream has a pace the client sees.
        let tpot =
            state.streamed
            ? ttftSeconds.flatMap {
                SLOAttainment.timePerOutputToken(ttftSeconds: $0, totalSeconds: totalSeconds, completionTokens: record.completionTokens)
            } : nil
        metrics.latency(total: total, timeToFirstToken: ttft, timePerOutputToken: tpot, taskClass: state.taskClass)
        // Only answers are judged against their class's objective; failures and refusals count in the request counters.
        if outcome == .completed, let taskClass = TaskClass(rawValue: state.taskClass),
            let attainment = SLOAttainment.judge(
                targets[taskClass], ttftSeconds: ttftSeconds, totalSeconds: totalSeconds, completionTokens: record.completionTokens,
                promptTokens: record.promptTokens, bestEffort: state.slo == SLOPolicy.bestEffort.rawValue)
        {
            metrics.slo(attainment, taskClass: state.taskClass)
        }
        metrics.tokens(prompt: record.promptTokens, completion: record.completionTokens, cachedPrompt: record.cachedPromptTokens ?? 0)
    }

    /// Whether the end of the answer waits for the usage row's commit (``settled(atMost:)``).
    var holdsAnswerEnd: Bool { ledger.commitsBeforeAnswersEnd }

    /// Returns once this request's usage row is committed (at once when the ledger does not make answers wait): the
    /// relay calls it before it ends a complete answer. Waits at most `limit`, so that a store that is down delays
    /// answers by that much, not for ever (the row is still written when the store is back).
    func settled(atMost limit: Duration = .seconds(2)) async {
        guard let commit = commit.withLock({ $0 }) else { return }
        _ = await commit.wait(atMost: limit)
    }

    /// Longest model name a usage row keeps.
    static let modelBytes = 256

    /// The largest context a node's claim is believed up to (2^20 tokens), when the client set no `max_tokens`.
    static let contextCeiling = 1 << 20

    /// The node's claim, billed within the request's bounds; its lies go to the node's record.
    private func bill(_ claim: TokenUsage?, state: State) -> TokenUsage? {
        guard let requestBytes = state.requestBytes, let node = state.node else { return claim.map { _ in TokenUsage.zero } }
        guard claim != nil || state.relayed.contentEvents > 0 else { return nil }
        let audit = AnswerAudit(
            requestBytes: requestBytes,
            maxOutputTokens: state.maxOutputTokens ?? min(state.contextTokens ?? Self.contextCeiling, Self.contextCeiling))
        let bill = audit.bill(
            claimedPrompt: claim?.promptTokens, claimedCompletion: claim?.completionTokens, relayed: state.relayed,
            estimatedPromptTokens: state.estimatedPromptTokens)
        for lie in bill.lies {
            conduct?.lied(
                node, lie, detail: "request \(requestID): claimed \(claim?.promptTokens ?? -1)+\(claim?.completionTokens ?? -1) tokens")
        }
        // The node's cached-prompt count is only recorded, never billed: held within the billed prompt.
        return TokenUsage(
            promptTokens: bill.promptTokens, completionTokens: bill.completionTokens,
            reportedByEngine: (claim?.reportedByEngine ?? false) && bill.lies.isEmpty,
            cachedPromptTokens: claim?.cachedPromptTokens.map { AnswerAudit.clamp($0, 0...max(0, bill.promptTokens)) })
    }
}

extension TokenUsage {
    /// Nothing ran: nothing is billed, whatever was claimed.
    static let zero = TokenUsage(promptTokens: 0, completionTokens: 0, reportedByEngine: false)
}
