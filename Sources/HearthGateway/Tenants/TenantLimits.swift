/// Per-tenant rate and concurrency limits as a value-type state machine: requests and tokens per rolling
/// minute, and requests in flight. `now` (seconds, any epoch) is an input; the shell (``TenantLimiter``)
/// supplies it from an injected clock.
///
/// Tokens are reserved at admission (prompt estimate + `max_tokens`) and corrected to the engine's count when the
/// request ends, so a tenant pays for what it used, and a burst of long answers cannot overrun the limit meanwhile.
///
/// Every admission and finish is O(1) amortised, whatever the tenant's rate (issue 13: the limiter took about a
/// tenth of the gateway's time at saturation, copying and scanning each tenant's minute of history per request):
/// a tenant's minute is a log read from its oldest end with running totals, mutated in place, and a tenant
/// with no per-minute limit keeps no log at all. Only a refusal scans the log, to say when to retry.
package struct TenantLimits: Sendable {
    /// The rolling window.
    static let windowSeconds = 60.0

    /// Why a request was refused.
    package enum Limit: Sendable, Equatable {
        case requestsPerMinute(Int)
        case tokensPerMinute(Int)
        /// The request alone reserves more tokens than a minute allows.
        case requestTooLarge(tokens: Int, limit: Int)
        case concurrency(Int)
    }

    package enum Admission: Sendable, Equatable {
        case admitted(Lease)
        case limited(Limit, retryAfterSeconds: Int)
    }

    /// An admitted request's hold on its tenant's limits; hand it back to ``finish(_:actualTokens:now:)`` once.
    package struct Lease: Sendable, Equatable {
        package var tenant: String
        package var id: UInt64
        package var reservedTokens: Int
    }

    /// One admitted request in a tenant's minute.
    private struct Charge {
        var at: Double
        var tokens: Int
        /// False once withdrawn: it no longer counts as a request of the minute.
        var isRequest: Bool
    }

    private struct Usage {
        /// The minute's charges, oldest first, from `head` on; `base` is the position of `log[0]` since the tenant's
        /// usage began, so a lease finds its charge by position without a search.
        var log: [Charge] = []
        var head = 0
        var base = 0
        var requests = 0
        var tokens = 0
        /// Leases not yet finished or withdrawn, with their charge's position (nil: not logged, the tenant had
        /// no per-minute limit). Releasing one twice changes nothing.
        var live: [UInt64: Int?] = [:]
        var inFlight: Int { live.count }
        var isIdle: Bool { live.isEmpty && head == log.count }

        mutating func append(_ charge: Charge) -> Int {
            log.append(charge)
            requests += 1
            tokens += charge.tokens
            return base + log.count - 1
        }

        /// The charge at `position` if it is still in the minute.
        func index(of position: Int?) -> Int? {
            guard let position, position - base >= head, position - base < log.count else { return nil }
            return position - base
        }

        mutating func prune(now: Double) {
            let cutoff = now - TenantLimits.windowSeconds
            while head < log.count, log[head].at <= cutoff {
                if log[head].isRequest { requests -= 1 }
                tokens -= log[head].tokens
                head += 1
            }
            // Drop what was read once it is most of the array: each charge is moved at most once more.
            if head == log.count {
                base += head
                log.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= log.count {
                base += head
                log.removeFirst(head)
                head = 0
            }
        }
    }

    private var tenants: [String: Usage] = [:]
    private var nextID: UInt64 = 0

    package init() {}

    /// Admits a request of `policy`'s tenant reserving `tokens`, or says which limit refuses it and when to retry.
    package mutating func admit(_ policy: TenantPolicy, tokens: Int, now: Double) -> Admission {
        let admission = admitRequest(policy, now: now)
        guard case .admitted(var lease) = admission else { return admission }
        let reserved = reserve(&lease, tokens: tokens, policy: policy, now: now)
        if case .limited = reserved { withdraw(lease, now: now) }
        return reserved
    }

    /// Takes back a request refused after ``admitRequest(_:now:)`` (its tokens did not fit): it counts neither as
    /// a request of the minute nor as in flight.
    package mutating func withdraw(_ lease: Lease, now: Double) {
        update(lease.tenant) { usage in
            guard let position = usage.live.removeValue(forKey: lease.id) else { return }
            if let index = usage.index(of: position) {
                usage.tokens -= usage.log[index].tokens
                usage.log[index].tokens = 0
                if usage.log[index].isRequest { usage.requests -= 1 }
                usage.log[index].isRequest = false
            }
            usage.prune(now: now)
        }
    }

    /// The first half of ``admit(_:tokens:now:)``, before the request's body is read: concurrency and requests
    /// per minute only, so that a tenant at its limits costs the gateway no parsing. Reserve its tokens with
    /// ``reserve(_:tokens:policy:now:)`` once they are known.
    package mutating func admitRequest(_ policy: TenantPolicy, now: Double) -> Admission {
        nextID &+= 1
        let id = nextID
        let logged = policy.requestsPerMinute != nil || policy.tokensPerMinute != nil
        return update(policy.tenant) { usage -> Admission in
            usage.prune(now: now)
            if let limit = policy.maxConcurrent, usage.inFlight >= max(0, limit) {
                return .limited(.concurrency(limit), retryAfterSeconds: 1)
            }
            if let limit = policy.requestsPerMinute, usage.requests >= max(0, limit) {
                return .limited(
                    .requestsPerMinute(limit), retryAfterSeconds: Self.requestsRetryAfter(usage, limit: limit, now: now))
            }
            let position: Int? = logged ? usage.append(Charge(at: now, tokens: 0, isRequest: true)) : nil
            usage.live.updateValue(position, forKey: id)
            return .admitted(Lease(tenant: policy.tenant, id: id, reservedTokens: 0))
        }
    }

    /// Reserves `tokens` for an admitted request within its tenant's tokens per minute; the request keeps its slot
    /// either way (``finish(_:actualTokens:now:)`` releases it).
    package mutating func reserve(_ lease: inout Lease, tokens: Int, policy: TenantPolicy, now: Double) -> Admission {
        let tokens = max(0, tokens)
        let admission = update(lease.tenant) { usage -> Admission? in
            guard let position = usage.live[lease.id], let index = usage.index(of: position) else { return nil }
            if let limit = policy.tokensPerMinute {
                if tokens > limit { return .limited(.requestTooLarge(tokens: tokens, limit: limit), retryAfterSeconds: 60) }
                let used = usage.tokens - usage.log[index].tokens
                if used + tokens > limit {
                    return .limited(
                        .tokensPerMinute(limit),
                        retryAfterSeconds: Self.tokensRetryAfter(usage, used: used, tokens: tokens, limit: limit, now: now))
                }
            }
            usage.tokens += tokens - usage.log[index].tokens
            usage.log[index].tokens = tokens
            return nil
        }
        if let admission { return admission }
        lease.reservedTokens = tokens
        return .admitted(lease)
    }

    package mutating func finish(_ lease: Lease, actualTokens: Int?, now: Double) {
        update(lease.tenant) { usage in
            guard let position = usage.live.removeValue(forKey: lease.id) else { return }
            if let actualTokens, let index = usage.index(of: position) {
                usage.tokens += max(0, actualTokens) - usage.log[index].tokens
                usage.log[index].tokens = max(0, actualTokens)
            }
            usage.prune(now: now)
        }
    }

    /// What a tenant has used of its minute, for the rate-limit headers: requests and tokens counted now, and when
    /// the newest of them ages out (then the minute is empty again). O(1).
    package struct Standing: Sendable, Equatable {
        package var requests: Int
        package var tokens: Int
        /// Seconds until every charge counted now has aged out (0: none counted).
        package var resetSeconds: Double
    }

    /// `tenant`'s standing at `now` (it must have been pruned by an admission at about `now`: reading prunes nothing).
    package func standing(_ tenant: String, now: Double) -> Standing {
        guard let usage = tenants[tenant], usage.head < usage.log.count else { return Standing(requests: 0, tokens: 0, resetSeconds: 0) }
        let newest = usage.log[usage.log.count - 1].at
        return Standing(
            requests: usage.requests, tokens: usage.tokens, resetSeconds: max(0, newest + Self.windowSeconds - now))
    }

    /// Requests of `tenant` in flight now.
    package func inFlight(_ tenant: String) -> Int { tenants[tenant]?.inFlight ?? 0 }

    /// Tenants with state held (in flight, or charges in the last minute).
    package var trackedTenants: Int { tenants.count }

    /// Charges held for `tenant`, read or not: what its log costs in memory.
    package func heldCharges(_ tenant: String) -> Int { tenants[tenant]?.log.count ?? 0 }

    /// Runs `body` on the tenant's usage in place (no copy of its log), then forgets a tenant left with nothing.
    private mutating func update<T>(_ tenant: String, _ body: (inout Usage) -> T) -> T {
        let result = body(&tenants[tenant, default: Usage()])
        if tenants[tenant]?.isIdle == true { tenants[tenant] = nil }
        return result
    }

    /// When enough of the minute's requests will have aged out for one more to fit.
    private static func requestsRetryAfter(_ usage: Usage, limit: Int, now: Double) -> Int {
        var excess = usage.requests - max(1, limit)  // requests that must age out, less one
        for charge in usage.log[usage.head...] where charge.isRequest {
            if excess == 0 { return seconds(until: charge.at + windowSeconds, now: now) }
            excess -= 1
        }
        return seconds(until: now + windowSeconds, now: now)
    }

    /// When enough of the minute's tokens will have aged out for `tokens` more to fit.
    private static func tokensRetryAfter(_ usage: Usage, used: Int, tokens: Int, limit: Int, now: Double) -> Int {
        var used = used
        for charge in usage.log[usage.head...] {
            used -= charge.tokens
            if used + tokens <= limit { return seconds(until: charge.at + windowSeconds, now: now) }
        }
        return seconds(until: now + windowSeconds, now: now)
    }

    private static func seconds(until time: Double, now: Double) -> Int {
        max(1, Int((time - now).rounded(.up)))
    }
}
