import Foundation
import HearthCore
import Synchronization

/// What requests cost at the gateway's prices, and whether a tenant may still spend: its budget for the day or month
/// against the ledger's rows of that period.
///
/// Each replica adds what its own requests cost the moment they end, and reads the whole fleet's spend from the store
/// at most every ``refreshSeconds`` (after flushing its own rows, so none is counted twice or missed). A tenant can so
/// overspend by what other replicas charged in the last ``refreshSeconds``, and by what its requests in flight
/// cost when they end: a budget is checked when a request starts, not while it runs.
final class TenantSpend: Sendable {
    let prices: PriceBook
    /// Seconds a replica serves a tenant's spend from memory before it reads the store again.
    let refreshSeconds: Double
    private let store: any FleetStore
    private let ledger: UsageLedger
    /// The wall clock budget periods are judged by.
    let now: @Sendable () -> Date
    private let entries = Mutex<[String: Entry]>([:])

    private struct Entry {
        var periodStart: Int64
        var storedMicros: Int64
        var localMicros: Int64 = 0
        var readAt: Date
    }

    init(prices: PriceBook, store: any FleetStore, ledger: UsageLedger, now: @escaping @Sendable () -> Date, refreshSeconds: Double = 2) {
        self.prices = prices
        self.store = store
        self.ledger = ledger
        self.now = now
        self.refreshSeconds = refreshSeconds
    }

    /// A request of this tenant ended and cost `micros`.
    func charged(_ tenant: String, micros: Int64, at time: Date) {
        guard micros > 0 else { return }
        let seconds = Int64(time.timeIntervalSince1970.rounded(.down))
        entries.withLock { entries in
            guard var entry = entries[tenant], seconds >= entry.periodStart else { return }
            entry.localMicros = entry.localMicros.addingReportingOverflow(micros).partialValue
            entries[tenant] = entry
        }
    }

    /// The tenant's spend in its budget's current period, and that period; nil without a budget.
    func standing(_ policy: TenantPolicy) async throws -> (spentMicros: Int64, budget: Budget, resetsAt: Date)? {
        guard let budget = policy.budget else { return nil }
        let time = now()
        let window = budget.period.window(containing: Int64(time.timeIntervalSince1970.rounded(.down)))
        let cached = entries.withLock { entries -> Int64? in
            guard let entry = entries[policy.tenant], entry.periodStart == window.start,
                time.timeIntervalSince(entry.readAt) < refreshSeconds
            else { return nil }
            return entry.storedMicros.addingReportingOverflow(entry.localMicros).partialValue
        }
        if let cached { return (cached, budget, Date(timeIntervalSince1970: Double(window.end))) }
        // This replica's own rows reach the store first, so the sum holds them and nothing stays counted locally.
        try? await ledger.flush()
        let stored = try await store.spendMicros(tenant: policy.tenant, from: Date(timeIntervalSince1970: Double(window.start)))
        entries.withLock { $0[policy.tenant] = Entry(periodStart: window.start, storedMicros: stored, readAt: time) }
        return (stored, budget, Date(timeIntervalSince1970: Double(window.end)))
    }

    /// Refuses a tenant whose budget for the period is spent: 429 `insufficient_quota`, with `Retry-After` until the
    /// period starts again.
    func admit(_ policy: TenantPolicy) async throws {
        guard let (spent, budget, resetsAt) = try await standing(policy), spent >= budget.limitMicros else { return }
        let seconds = max(1, Int(resetsAt.timeIntervalSince(now()).rounded(.up)))
        throw OpenAIError.budgetExceeded(
            tenant: policy.tenant, spentMicros: spent, budget: budget, resetsAt: resetsAt, retryAfterSeconds: seconds)
    }
}

extension OpenAIError {
    /// 429 for a tenant whose budget is spent (OpenAI's `insufficient_quota` type), with `Retry-After` until it resets.
    static func budgetExceeded(tenant: String, spentMicros: Int64, budget: Budget, resetsAt: Date, retryAfterSeconds: Int)
        -> OpenAIError
    {
        let formatter = ISO8601DateFormatter()
        return OpenAIError(
            status: .tooManyRequests,
            message: "Tenant '\(tenant)' has spent \(Dollars.text(spentMicros)) of its \(budget.period.rawValue) budget of "
                + "\(Dollars.text(budget.limitMicros)); it starts again at \(formatter.string(from: resetsAt)).",
            type: "insufficient_quota", code: "budget_exceeded", retryAfterSeconds: retryAfterSeconds)
    }
}

/// Micro-dollars as people read them.
enum Dollars {
    static func text(_ micros: Int64) -> String { "$" + String(format: "%.6f", Double(micros) / 1e6) }
    static func value(_ micros: Int64) -> Double { Double(micros) / 1e6 }
}
