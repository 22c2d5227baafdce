/// The security facts of one request that placement must respect.
public struct RequestSecurity: Sendable {
    public var tenant: String
    public var dataClass: DataClass
    /// In-flight tenants per node (the gateway's current copy).
    public var occupancy: TenantOccupancy
    /// See ``DataClassFilter/cleanWindowSeconds``.
    public var cleanWindowSeconds: Double
    /// Nodes this request must not go to (already failed it, or already run it as a hedge).
    public var excludedNodes: Set<NodeID>

    public init(
        tenant: String, dataClass: DataClass, occupancy: TenantOccupancy = TenantOccupancy(),
        cleanWindowSeconds: Double = 7 * 24 * 3600, excludedNodes: Set<NodeID> = []
    ) {
        self.tenant = tenant
        self.dataClass = dataClass
        self.occupancy = occupancy
        self.cleanWindowSeconds = cleanWindowSeconds
        self.excludedNodes = excludedNodes
    }

    /// The filters that enforce it, in order: trust state, data class, tenant isolation, exclusions.
    public var filters: [any NodeFilter] {
        var filters: [any NodeFilter] = [
            NodeTrustFilter(),
            DataClassFilter(dataClass: dataClass, cleanWindowSeconds: cleanWindowSeconds),
            TenantIsolationFilter(tenant: tenant, dataClass: dataClass, occupancy: occupancy),
        ]
        if !excludedNodes.isEmpty { filters.append(ExcludeNodesFilter(excludedNodes)) }
        return filters
    }
}
