import HearthCore
import Synchronization

/// The gateway's shell around ``TenantLimits``: one lock, and the time from the clock the gateway was given
/// (a manual clock in tests, so limits are tested without sleeping).
package final class TenantLimiter: Sendable {
    private let limits = Mutex(TenantLimits())
    private let now: @Sendable () -> Double
    /// Gateway replicas serving the fleet now (``ReplicaPresence``): each enforces its share of every limit.
    private let replicas = Atomic<Int>(1)

    private let replicaChanges = Broadcast<Int>()

    /// How many replicas share the fleet now (at least 1).
    func setLiveReplicas(_ count: Int) {
        let count = max(1, count)
        if replicas.exchange(count, ordering: .relaxed) != count { replicaChanges.yield(count) }
    }

    package var liveReplicas: Int { replicas.load(ordering: .relaxed) }

    /// Every change of the replica count from now on (tests await one).
    package func liveReplicaChanges() -> AsyncStream<Int> { replicaChanges.subscribe() }

    /// The limits this replica enforces for `policy`: its share (``TenantPolicy/share(among:)``).
    private func local(_ policy: TenantPolicy) -> TenantPolicy { policy.share(among: replicas.load(ordering: .relaxed)) }

    init<C: Clock<Duration>>(clock: C) {
        let start = clock.now
        now = { start.duration(to: clock.now).seconds }
    }

    /// Admits a request or throws the 429 its tenant's limits call for.
    func admit(_ policy: TenantPolicy, tokens: Int) throws(OpenAIError) -> TenantLimits.Lease {
        let now = now()
        let shared = local(policy)
        switch limits.withLock({ $0.admit(shared, tokens: tokens, now: now) }) {
        case .admitted(let lease):
            return lease
        case .limited(let limit, let retryAfter):
            throw OpenAIError.rateLimited(Self.message(limit, policy: policy), retryAfterSeconds: retryAfter)
        }
    }

    /// Admits a request before its body is read (concurrency, requests per minute) or throws the 429.
    func admitRequest(_ policy: TenantPolicy) throws(OpenAIError) -> TenantLimits.Lease {
        let now = now()
        let shared = local(policy)
        switch limits.withLock({ $0.admitRequest(shared, now: now) }) {
        case .admitted(let lease): return lease
        case .limited(let limit, let retryAfter):
            throw OpenAIError.rateLimited(Self.message(limit, policy: policy), retryAfterSeconds: retryAfter)
        }
    }

    /// Reserves an admitted request's tokens, or withdraws it and throws the 429 its tokens per minute call for.
    func reserve(_ lease: TenantLimits.Lease, tokens: Int, policy: TenantPolicy) throws(OpenAIError) {
        let now = now()
        let shared = local(policy)
        let refusal = limits.withLock { limits -> (TenantLimits.Limit, Int)? in
            var lease = lease
            guard case .limited(let limit, let retryAfter) = limits.reserve(&lease, tokens: tokens, policy: shared, now: now) else {
                return nil
            }
            limits.withdraw(lease, now: now)
            return (limit, retryAfter)
        }
        if let (limit, retryAfter) = refusal {
            throw OpenAIError.rateLimited(Self.message(limit, policy: policy), retryAfterSeconds: retryAfter)
        }
    }

    func finish(_ lease: TenantLimits.Lease, actualTokens: Int?) {
        let now = now()
        limits.withLock { $0.finish(lease, actualTokens: actualTokens, now: now) }
    }

    func inFlight(_ tenant: String) -> Int { limits.withLock { $0.inFlight(tenant) } }

    /// The tenant's own limits in the message (not this replica's share of them).
    private static func message(_ limit: TenantLimits.Limit, policy: TenantPolicy) -> String {
        let tenant = policy.tenant
        return switch limit {
        case .requestsPerMinute(let n):
            "Rate limit reached for tenant \(tenant): \(policy.requestsPerMinute ?? n) requests per minute."
        case .tokensPerMinute(let n): "Rate limit reached for tenant \(tenant): \(policy.tokensPerMinute ?? n) tokens per minute."
        case .requestTooLarge(let tokens, let n):
            "Request too large for tenant \(tenant): it reserves \(tokens) tokens (prompt and max_tokens), over the limit of \(n) tokens per minute; lower max_tokens."
        case .concurrency(let n): "Concurrency limit reached for tenant \(tenant): \(policy.maxConcurrent ?? n) requests in flight."
        }
    }
}
