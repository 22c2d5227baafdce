/// Which tenants have requests in flight on each node, and whether any of them demands isolation: the state
/// behind "`sensitive` and `confidential` requests never share a batch with another tenant".
///
/// An engine batches every request it runs at once (continuous batching), so isolation is per node: a node
/// runs either isolated work of a single tenant, or any mix of `standard` work. The gateway records every
/// placement (``admit(tenant:dataClass:on:)``) and every end (``release(tenant:dataClass:on:)``), and hands a
/// copy to ``TenantIsolationFilter`` (copies are cheap: copy-on-write).
public struct TenantOccupancy: Sendable, Hashable {
    struct Occupants: Sendable, Hashable {
        /// In-flight requests per tenant.
        var counts: [String: Int] = [:]
        /// In-flight isolated (sensitive/confidential) requests per tenant.
        var isolated: [String: Int] = [:]
    }

    private var nodes: [NodeID: Occupants] = [:]

    public init() {}

    /// Whether a request of `tenant` with `dataClass` may join the work on `node` now.
    /// - isolated request: no other tenant has anything in flight there;
    /// - `standard` request: no other tenant has isolated work in flight there.
    public func allows(tenant: String, dataClass: DataClass, on node: NodeID) -> Bool {
        guard let occupants = nodes[node] else { return true }
        if dataClass.isolatesTenants {
            return occupants.counts.keys.allSatisfy { $0 == tenant }
        }
        return occupants.isolated.keys.allSatisfy { $0 == tenant }
    }

    /// Records a placement. Returns false (and records nothing) when ``allows(tenant:dataClass:on:)`` is false:
    /// two placements raced; re-decide.
    @discardableResult
    public mutating func admit(tenant: String, dataClass: DataClass, on node: NodeID) -> Bool {
        guard allows(tenant: tenant, dataClass: dataClass, on: node) else { return false }
        nodes[node, default: Occupants()].counts[tenant, default: 0] += 1
        if dataClass.isolatesTenants { nodes[node, default: Occupants()].isolated[tenant, default: 0] += 1 }
        return true
    }

    /// Records the end of a request (completed, failed, cancelled or migrated away).
    public mutating func release(tenant: String, dataClass: DataClass, on node: NodeID) {
        guard var occupants = nodes[node], let count = occupants.counts[tenant] else { return }
        occupants.counts[tenant] = count > 1 ? count - 1 : nil
        if dataClass.isolatesTenants, let isolated = occupants.isolated[tenant] {
            occupants.isolated[tenant] = isolated > 1 ? isolated - 1 : nil
        }
        nodes[node] = occupants.counts.isEmpty ? nil : occupants
    }

    /// Forgets a node (lost, revoked): its requests are gone.
    public mutating func removeNode(_ node: NodeID) {
        nodes[node] = nil
    }

    /// Tenants with work in flight on `node`.
    public func tenants(on node: NodeID) -> Set<String> {
        nodes[node].map { Set($0.counts.keys) } ?? []
    }
}

/// Admits only nodes where ``TenantOccupancy/allows(tenant:dataClass:on:)`` holds for this request's tenant.
public struct TenantIsolationFilter: NodeFilter {
    public var tenant: String
    public var dataClass: DataClass
    public var occupancy: TenantOccupancy
    public var name: String { "tenant-isolation" }

    public init(tenant: String, dataClass: DataClass, occupancy: TenantOccupancy) {
        self.tenant = tenant
        self.dataClass = dataClass
        self.occupancy = occupancy
    }

    public func admits(_ request: SchedulingRequest, nodeAt index: Int, in fleet: FleetState) -> Bool {
        occupancy.allows(tenant: tenant, dataClass: dataClass, on: fleet.ids[index])
    }
}
