import Foundation
package import HearthCore

extension Gateway {
    /// Stores (or replaces) a tenant's data class and limits, then creates a key for it; returns the key (shown
    /// once, never stored).
    public func createAPIKey(for policy: TenantPolicy) async throws -> String {
        try await store.upsertTenant(policy)
        // The tenant's other keys may be cached with its old policy.
        authenticator.invalidateAll()
        return try await createAPIKey(tenant: policy.tenant)
    }

    /// Revokes the key with this hash: the next request with it gets 401.
    @discardableResult
    public func revokeAPIKey(hash: String) async throws -> Bool {
        let revoked = try await store.revokeAPIKey(hash: hash, at: Date())
        authenticator.invalidateAll()
        return revoked
    }

    /// Sets gateway-assigned security labels on a node (`trust-state`, `last-tamper-at`); see
    /// `FleetScheduler.updateLabels(_:_:)`. `attestation` and `site` come only from the configuration.
    package func updateNodeLabels(_ node: NodeID, _ labels: [String: String]) {
        registry.scheduler.updateLabels(node, labels)
    }

    /// Seconds on the scheduler's clock (what `last-tamper-at` is written in).
    package var schedulerNow: Double { registry.scheduler.now }

    /// Tenants with requests in flight on `node` (batch isolation state).
    package func tenants(on node: NodeID) -> Set<String> { registry.scheduler.tenants(on: node) }
}
