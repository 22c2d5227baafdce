import HTTPTypes
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

    /// OpenAI's rate-limit headers for `policy`'s tenant now, for each per-minute limit it has (none: no headers).
    /// With several replicas, each counts what it admitted; the tenant's use is taken as that times the replicas
    /// (the even spread each replica's share of the limit assumes), so `remaining` is an estimate there.
    func headers(_ policy: TenantPolicy) -> [HTTPField] {
        guard policy.requestsPerMinute != nil || policy.tokensPerMinute != nil else { return [] }
        let now = now()
        let standing = limits.withLock { $0.standing(policy.tenant, now: now) }
        let replicas = replicas.load(ordering: .relaxed)
        let reset = Self.duration(standing.resetSeconds)
        var fields: [HTTPField] = []
        if let limit = policy.requestsPerMinute {
            fields += [
                HTTPField(name: .rateLimitRequests, value: String(limit)),
                HTTPField(name: .rateLimitRemainingRequests, value: String(max(0, limit - standing.requests * replicas))),
                HTTPField(name: .rateLimitResetRequests, value: reset),
            ]
        }
        if let limit = policy.tokensPerMinute {
            fields += [
                HTTPField(name: .rateLimitTokens, value: String(limit)),
                HTTPField(name: .rateLimitRemainingTokens, value: String(max(0, limit - standing.tokens * replicas))),
                HTTPField(name: .rateLimitResetTokens, value: reset),
            ]
        }
        return fields
    }

    /// A duration as OpenAI writes it in those headers: `250ms`, `12s`, `1m0s`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds > 0 else { return "0s" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded(.up)))ms" }
        let whole = Int(seconds.rounded(.up))
        return whole < 60 ? "\(whole)s" : "\(whole / 60)m\(whole % 60)s"
    }

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

/// OpenAI's rate-limit headers, by its names.
extension HTTPField.Name {
    static let rateLimitRequests = HTTPField.Name("x-ratelimit-limit-requests")!
    static let rateLimitRemainingRequests = HTTPField.Name("x-ratelimit-remaining-requests")!
    static let rateLimitResetRequests = HTTPField.Name("x-ratelimit-reset-requests")!
    static let rateLimitTokens = HTTPField.Name("x-ratelimit-limit-tokens")!
    static let rateLimitRemainingTokens = HTTPField.Name("x-ratelimit-remaining-tokens")!
    static let rateLimitResetTokens = HTTPField.Name("x-ratelimit-reset-tokens")!
}
