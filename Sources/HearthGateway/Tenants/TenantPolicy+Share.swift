extension TenantPolicy {
    /// What one of `replicas` gateway replicas enforces so that the fleet holds the tenant's limits: each limit divided
    /// among them, rounded up (never below 1). With requests balanced across the replicas (HAProxy's round robin), the
    /// fleet admits at most `limit + replicas − 1` per window; when a tenant's requests all reach one replica, it is
    /// refused at that replica's share. Tokens per minute also bound the largest single request, so a request larger
    /// than a share is refused on every replica: the tolerance documented in docs/RESILIENCE.md.
    package func share(among replicas: Int) -> TenantPolicy {
        guard replicas > 1 else { return self }
        func part(_ limit: Int?) -> Int? { limit.map { max(1, ($0 + replicas - 1) / replicas) } }
        var shared = self
        shared.requestsPerMinute = part(requestsPerMinute)
        shared.tokensPerMinute = part(tokensPerMinute)
        shared.maxConcurrent = part(maxConcurrent)
        return shared
    }
}
