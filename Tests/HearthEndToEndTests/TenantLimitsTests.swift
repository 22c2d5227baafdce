import HearthGateway
import Testing

/// The per-tenant limits' state machine on its own, with time as an input: what it admits and refuses, when it
/// says to retry, and that its state stays bounded (issue 13: it is on every request's path).
@Suite struct TenantLimitsTests {
    static func lease(_ admission: TenantLimits.Admission) throws -> TenantLimits.Lease {
        guard case .admitted(let lease) = admission else { throw Refused(admission: admission) }
        return lease
    }

    struct Refused: Error { var admission: TenantLimits.Admission }

    @Test func requestsPerMinuteRefuseUntilTheOldestAgesOutAndAWithdrawnRequestDoesNotCount() throws {
        var limits = TenantLimits()
        let policy = TenantPolicy(tenant: "t", requestsPerMinute: 2)
        let first = try Self.lease(limits.admit(policy, tokens: 10, now: 0))
        limits.finish(first, actualTokens: 5, now: 1)
        _ = try Self.lease(limits.admit(policy, tokens: 10, now: 10))
        #expect(limits.admit(policy, tokens: 10, now: 20) == .limited(.requestsPerMinute(2), retryAfterSeconds: 40))
        // A minute after the first, one more fits.
        let third = try Self.lease(limits.admit(policy, tokens: 10, now: 60.5))
        limits.withdraw(third, now: 61)
        // The withdrawn one does not count: one more still fits.
        _ = try Self.lease(limits.admit(policy, tokens: 10, now: 62))
        #expect(limits.admit(policy, tokens: 10, now: 63) == .limited(.requestsPerMinute(2), retryAfterSeconds: 7))
        // A limit of zero refuses everything and never reads past the end of an empty minute.
        #expect(
            limits.admit(TenantPolicy(tenant: "z", requestsPerMinute: 0), tokens: 1, now: 0)
                == .limited(.requestsPerMinute(0), retryAfterSeconds: 60))
    }

    @Test func tokensAreReservedThenCorrectedToWhatWasUsed() throws {
        var limits = TenantLimits()
        let policy = TenantPolicy(tenant: "t", tokensPerMinute: 100)
        let big = try Self.lease(limits.admit(policy, tokens: 80, now: 0))
        #expect(big.reservedTokens == 80)
        #expect(limits.admit(policy, tokens: 30, now: 1) == .limited(.tokensPerMinute(100), retryAfterSeconds: 59))
        // The answer used 20 of its 80: the rest is free again.
        limits.finish(big, actualTokens: 20, now: 2)
        let next = try Self.lease(limits.admit(policy, tokens: 70, now: 3))
        #expect(limits.admit(policy, tokens: 11, now: 4) == .limited(.tokensPerMinute(100), retryAfterSeconds: 56))
        #expect(limits.admit(policy, tokens: 101, now: 4) == .limited(.requestTooLarge(tokens: 101, limit: 100), retryAfterSeconds: 60))
        limits.finish(next, actualTokens: nil, now: 5)
        // Both charges age out with their minute.
        _ = try Self.lease(limits.admit(policy, tokens: 100, now: 63.5))
    }

    @Test func concurrencyCountsLeasesInFlightAndAFinishTwiceChangesNothing() throws {
        var limits = TenantLimits()
        let policy = TenantPolicy(tenant: "t", maxConcurrent: 1)
        let only = try Self.lease(limits.admit(policy, tokens: 1, now: 0))
        #expect(limits.admit(policy, tokens: 1, now: 0) == .limited(.concurrency(1), retryAfterSeconds: 1))
        limits.finish(only, actualTokens: 1, now: 1)
        limits.finish(only, actualTokens: 1, now: 1)
        let again = try Self.lease(limits.admit(policy, tokens: 1, now: 1))
        #expect(limits.inFlight("t") == 1)
        limits.finish(again, actualTokens: 1, now: 2)
        #expect(limits.inFlight("t") == 0)
        #expect(limits.trackedTenants == 0, "a tenant without per-minute limits keeps nothing once idle")
    }

    @Test("state stays bounded: an unlimited tenant logs nothing, a limited one only its last minute")
    func stateStaysBounded() throws {
        var limits = TenantLimits()
        let unlimited = TenantPolicy(tenant: "u")
        let limited = TenantPolicy(tenant: "l", requestsPerMinute: 1_000_000, tokensPerMinute: 1_000_000_000)
        // 100 requests a second for five minutes each.
        for step in 0..<30_000 {
            let now = Double(step) / 100
            let a = try Self.lease(limits.admit(unlimited, tokens: 10, now: now))
            let b = try Self.lease(limits.admit(limited, tokens: 10, now: now))
            if step % 1000 == 0 { #expect(limits.heldCharges("u") == 0) }
            limits.finish(a, actualTokens: 5, now: now)
            limits.finish(b, actualTokens: 5, now: now)
        }
        #expect(limits.trackedTenants == 1, "only the limited tenant has a minute to remember")
        // At most one minute of charges (6,000), and as many again read but not yet dropped.
        #expect(limits.heldCharges("l") <= 2 * 6_000 + 1024, "\(limits.heldCharges("l"))")
    }
}
