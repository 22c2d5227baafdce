/// Per-tenant rate and concurrency limits as a value-type state machine: requests and tokens per rolling
/// minute, and requests in flight. `now` (seconds, any epoch) is an input; the shell (``TenantLimiter``)
/// supplies it from an injected clock.
///
/// Tokens are reserved at admission (prompt estimate + `max_tokens`) and corrected to the engine's count when the
/// request ends, so a tenant pays for what it used, and a burst of long answers cannot overrun the limit meanwhile.
struct TenantLimits: Sendable {
    /// The rolling window.
    static let windowSeconds = 60.0

    /// Why a request was refused.
    enum Limit: Sendable, Equatable {
        case requestsPerMinute(Int)
        case tokensPerMinute(Int)
        /// The request alone reserves more tokens than a minute allows.
        case requestTooLarge(tokens: Int, limit: Int)
        case concurrency(Int)
    }

    enum Admission: Sendable, Equatable {
        case admitted(Lease)
        case limited(Limit, retryAfterSeconds: Int)
    }

    /// An admitted request's hold on its tenant's limits; hand it back to ``finish(_:actualTokens:now:)`` once.
    struct Lease: Sendable, Equatable {
        var tenant: String
        var id: UInt64
        var reservedTokens: Int
    }

    private struct Usage {
        /// Admission times, oldest first.
        var requests: [Double] = []
        /// Token charges, oldest first.
        var tokens: [(at: Double, id: UInt64, tokens: Int)] = []
        /// Leases not yet finished or withdrawn: releasing one twice changes nothing.
        var live: Set<UInt64> = []
        var inFlight: Int { live.count }

        mutating func prune(now: Double) {
            let cutoff = now - TenantLimits.windowSeconds
            if let keep = requests.firstIndex(where: { $0 > cutoff }) {
                requests.removeFirst(keep)
            } else {
                requests.removeAll()
            }
            if let keep = tokens.firstIndex(where: { $0.at > cutoff }) {
                tokens.removeFirst(keep)
            } else {
                tokens.removeAll()
            }
        }
    }

    private var tenants: [String: Usage] = [:]
    private var nextID: UInt64 = 0

    /// Admits a request of `policy`'s tenant reserving `tokens`, or says which limit refuses it and when to retry.
    mutating func admit(_ policy: TenantPolicy, tokens: Int, now: Double) -> Admission {
        let admission = admitRequest(policy, now: now)
        guard case .admitted(var lease) = admission else { return admission }
        let reserved = reserve(&lease, tokens: tokens, policy: policy, now: now)
        if case .limited = reserved { withdraw(lease, now: now) }
        return reserved
    }

    /// Takes back a request refused after ``admitRequest(_:now:)`` (its tokens did not fit): it counts neither as
    /// a request of the minute nor as in flight.
    mutating func withdraw(_ lease: Lease, now: Double) {
        guard var usage = tenants[lease.tenant], let index = usage.tokens.firstIndex(where: { $0.id == lease.id }) else { return }
        let at = usage.tokens.remove(at: index).at
        if let request = usage.requests.lastIndex(of: at) { usage.requests.remove(at: request) }
        usage.live.remove(lease.id)
        usage.prune(now: now)
        tenants[lease.tenant] = usage.requests.isEmpty && usage.tokens.isEmpty && usage.inFlight == 0 ? nil : usage
    }

    /// The first half of ``admit(_:tokens:now:)``, before the request's body is read: concurrency and requests
    /// per minute only, so that a tenant at its limits costs the gateway no parsing. Reserve its tokens with
    /// ``reserve(_:tokens:policy:now:)`` once they are known.
    mutating func admitRequest(_ policy: TenantPolicy, now: Double) -> Admission {
        var usage = tenants[policy.tenant] ?? Usage()
        usage.prune(now: now)
        defer { tenants[policy.tenant] = usage.requests.isEmpty && usage.tokens.isEmpty && usage.inFlight == 0 ? nil : usage }
        if let limit = policy.maxConcurrent, usage.inFlight >= max(0, limit) {
            return .limited(.concurrency(limit), retryAfterSeconds: 1)
        }
        if let limit = policy.requestsPerMinute, usage.requests.count >= max(0, limit) {
            let oldest = usage.requests[max(0, usage.requests.count - max(1, limit))]
            return .limited(.requestsPerMinute(limit), retryAfterSeconds: Self.seconds(until: oldest + Self.windowSeconds, now: now))
        }
        nextID &+= 1
        usage.requests.append(now)
        usage.tokens.append((now, nextID, 0))
        usage.live.insert(nextID)
        return .admitted(Lease(tenant: policy.tenant, id: nextID, reservedTokens: 0))
    }

    /// Reserves `tokens` for an admitted request within its tenant's tokens per minute; the request keeps its slot
    /// either way (``finish(_:actualTokens:now:)`` releases it).
    mutating func reserve(_ lease: inout Lease, tokens: Int, policy: TenantPolicy, now: Double) -> Admission {
        guard var usage = tenants[lease.tenant], let index = usage.tokens.firstIndex(where: { $0.id == lease.id }) else {
            return .admitted(lease)
        }
        let tokens = max(0, tokens)
        if let limit = policy.tokensPerMinute {
            if tokens > limit { return .limited(.requestTooLarge(tokens: tokens, limit: limit), retryAfterSeconds: 60) }
            var used = usage.tokens.reduce(0) { $0 + $1.tokens }
            if used + tokens > limit {
                var retryAt = now + Self.windowSeconds
                for charge in usage.tokens {
                    used -= charge.tokens
                    if used + tokens <= limit {
                        retryAt = charge.at + Self.windowSeconds
                        break
                    }
                }
                return .limited(.tokensPerMinute(limit), retryAfterSeconds: Self.seconds(until: retryAt, now: now))
            }
        }
        usage.tokens[index].tokens = tokens
        tenants[lease.tenant] = usage
        lease.reservedTokens = tokens
        return .admitted(lease)
    }

    mutating func finish(_ lease: Lease, actualTokens: Int?, now: Double) {
        guard var usage = tenants[lease.tenant] else { return }
        usage.live.remove(lease.id)
        if let actualTokens, let index = usage.tokens.firstIndex(where: { $0.id == lease.id }) {
            usage.tokens[index].tokens = max(0, actualTokens)
        }
        usage.prune(now: now)
        tenants[lease.tenant] = usage.requests.isEmpty && usage.tokens.isEmpty && usage.inFlight == 0 ? nil : usage
    }

    /// Requests of `tenant` in flight now.
    func inFlight(_ tenant: String) -> Int { tenants[tenant]?.inFlight ?? 0 }

    private static func seconds(until time: Double, now: Double) -> Int {
        max(1, Int((time - now).rounded(.up)))
    }
}
