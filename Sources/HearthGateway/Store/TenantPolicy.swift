public import Foundation
public import HearthCore

/// What a tenant may do: its data class and its limits. Stored in the `tenant` table; a key whose tenant has
/// no row gets ``TenantPolicy/init(tenant:)``'s defaults (`standard`, no limits).
public struct TenantPolicy: Sendable, Equatable {
    public var tenant: String
    public var dataClass: DataClass
    /// Requests admitted per rolling minute; nil: unlimited.
    public var requestsPerMinute: Int?
    /// Tokens per rolling minute (prompt estimate + `max_tokens` reserved at admission, corrected to the
    /// engine's count at the end); nil: unlimited.
    public var tokensPerMinute: Int?
    /// Requests in flight at once; nil: unlimited.
    public var maxConcurrent: Int?
    /// What the tenant's requests get when no node can meet their class target (a request's own
    /// `X-Hearth-SLO-Policy` or `metadata.slo_policy` overrides it); nil: the gateway's default.
    public var sloPolicy: SLOPolicy?
    /// Dollars the tenant may spend per day or month at the gateway's prices; nil: no budget.
    public var budget: Budget?
    /// The key a request came with (``APIKeyRecord/id``), set by the gateway's authenticator: usage rows name it.
    /// Never stored.
    public var keyID: String?

    public init(
        tenant: String, dataClass: DataClass = .standard, requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil,
        maxConcurrent: Int? = nil, sloPolicy: SLOPolicy? = nil, budget: Budget? = nil
    ) {
        self.budget = budget
        self.sloPolicy = sloPolicy
        self.tenant = tenant
        self.dataClass = dataClass
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.maxConcurrent = maxConcurrent
    }

    /// A policy as a store read it (a `tenant` row, or a key's row joined to it: absent columns are the defaults).
    /// An unreadable class or SLO policy, written by a newer gateway, fails closed: the strictest class we know, and
    /// `strict` (the tenant asked for more than best effort).
    init(
        stored tenant: String, dataClass: String?, requestsPerMinute: Int?, tokensPerMinute: Int?, maxConcurrent: Int?,
        sloPolicy: String?, budgetMicros: Int64? = nil, budgetPeriod: String? = nil
    ) {
        self.init(
            tenant: tenant, dataClass: dataClass.map { DataClass(rawValue: $0) ?? .confidential } ?? .standard,
            requestsPerMinute: requestsPerMinute, tokensPerMinute: tokensPerMinute, maxConcurrent: maxConcurrent,
            sloPolicy: sloPolicy.map { SLOPolicy(rawValue: $0) ?? .strict })
        // A period this gateway cannot read fails closed: the shorter one.
        budget = budgetMicros.map { Budget(limitMicros: $0, period: budgetPeriod.flatMap(BudgetPeriod.init(rawValue:)) ?? .daily) }
    }
}

/// A stored API key as operators see it: never the key, only a short id (the first 12 hex digits of its hash).
public struct APIKeyRecord: Sendable, Equatable {
    /// The SHA-256 of the key, hex: what the store keeps.
    public var keyHash: String
    public var tenant: String
    public var dataClass: DataClass
    public var createdAt: Date
    public var revokedAt: Date?

    public init(keyHash: String, tenant: String, dataClass: DataClass, createdAt: Date, revokedAt: Date?) {
        self.keyHash = keyHash
        self.tenant = tenant
        self.dataClass = dataClass
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// The short id `hearth keys list` prints and `hearth keys revoke` takes.
    public var id: String { String(keyHash.prefix(Self.idLength)) }
    public static let idLength = 12
}
