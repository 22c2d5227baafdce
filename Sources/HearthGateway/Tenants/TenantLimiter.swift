import HearthCore
import Synchronization

/// The gateway's shell around ``TenantLimits``: one lock, and the time from the clock the gateway was given
/// (a manual clock in tests, so limits are tested without sleeping).
final class TenantLimiter: Sendable {
    private let limits = Mutex(TenantLimits())
    private let now: @Sendable () -> Double

    init<C: Clock<Duration>>(clock: C) {
        let start = clock.now
        now = { start.duration(to: clock.now).seconds }
    }

    /// Admits a request or throws the 429 its tenant's limits call for.
    func admit(_ policy: TenantPolicy, tokens: Int) throws(OpenAIError) -> TenantLimits.Lease {
        let now = now()
        switch limits.withLock({ $0.admit(policy, tokens: tokens, now: now) }) {
        case .admitted(let lease):
            return lease
        case .limited(let limit, let retryAfter):
            throw OpenAIError.rateLimited(Self.message(limit, tenant: policy.tenant), retryAfterSeconds: retryAfter)
        }
    }

    /// Admits a request before its body is read (concurrency, requests per minute) or throws the 429.
    func admitRequest(_ policy: TenantPolicy) throws(OpenAIError) -> TenantLimits.Lease {
        let now = now()
        switch limits.withLock({ $0.admitRequest(policy, now: now) }) {
        case .admitted(let lease): return lease
        case .limited(let limit, let retryAfter):
            throw OpenAIError.rateLimited(Self.message(limit, tenant: policy.tenant), retryAfterSeconds: retryAfter)
        }
    }

    /// Reserves an admitted request's tokens, or withdraws it and throws the 429 its tokens per minute call for.
    func reserve(_ lease: TenantLimits.Lease, tokens: Int, policy: TenantPolicy) throws(OpenAIError) {
        let now = now()
        let refusal = limits.withLock { limits -> (TenantLimits.Limit, Int)? in
            var lease = lease
            guard case .limited(let limit, let retryAfter) = limits.reserve(&lease, tokens: tokens, policy: policy, now: now) else {
                return nil
            }
            limits.withdraw(lease, now: now)
            return (limit, retryAfter)
        }
        if let (limit, retryAfter) = refusal {
            throw OpenAIError.rateLimited(Self.message(limit, tenant: policy.tenant), retryAfterSeconds: retryAfter)
        }
    }

    func finish(_ lease: TenantLimits.Lease, actualTokens: Int?) {
        let now = now()
        limits.withLock { $0.finish(lease, actualTokens: actualTokens, now: now) }
    }

    func inFlight(_ tenant: String) -> Int { limits.withLock { $0.inFlight(tenant) } }

    private static func message(_ limit: TenantLimits.Limit, tenant: String) -> String {
        switch limit {
        case .requestsPerMinute(let n): "Rate limit reached for tenant \(tenant): \(n) requests per minute."
        case .tokensPerMinute(let n): "Rate limit reached for tenant \(tenant): \(n) tokens per minute."
        case .requestTooLarge(let tokens, let n):
            "Request too large for tenant \(tenant): it reserves \(tokens) tokens (prompt and max_tokens), over the limit of \(n) tokens per minute; lower max_tokens."
        case .concurrency(let n): "Concurrency limit reached for tenant \(tenant): \(n) requests in flight."
        }
    }
}
