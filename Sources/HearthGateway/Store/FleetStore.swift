public import Foundation
public import HearthCore

/// Durable gateway state: the fleet registry, tenants' API keys (hashed) and the usage ledger.
///
/// SQLite (``SQLiteFleetStore``) is the default; a PostgreSQL backend implements the same protocol.
public protocol FleetStore: Sendable {
    /// Records that a node registered (or registered again) with these facts.
    func upsertNode(_ node: NodeRecord) async throws
    /// Records that a node's tunnel closed.
    func markNodeDisconnected(_ id: NodeID, at time: Date) async throws
    func nodes() async throws -> [NodeRecord]

    /// Stores a tenant key by its hash; the key itself is never stored.
    func addAPIKey(hash: String, tenant: String, createdAt: Date) async throws
    /// The tenant that owns the key with this hash, if any (nil for a revoked key).
    func tenant(forKeyHash hash: String) async throws -> String?

    /// Creates or replaces a tenant's data class and limits.
    func upsertTenant(_ policy: TenantPolicy) async throws
    /// A tenant's stored policy, if it has one.
    func tenantPolicy(named tenant: String) async throws -> TenantPolicy?
    /// The policy of the tenant owning this (unrevoked) key; nil for an unknown or revoked key. A key whose
    /// tenant has no stored policy gets the defaults (`standard`, no limits).
    func tenantPolicy(forKeyHash hash: String) async throws -> TenantPolicy?
    /// Every stored key, revoked ones included, oldest first.
    func apiKeys() async throws -> [APIKeyRecord]
    /// Marks a key revoked; false when no unrevoked key has this hash.
    @discardableResult
    func revokeAPIKey(hash: String, at time: Date) async throws -> Bool

    /// Appends usage rows. A row whose request id is already present is refused with
    /// ``FleetStoreError/duplicateUsage`` and nothing in the batch is written twice.
    func appendUsage(_ records: [UsageRecord]) async throws
    func usage(requestID: String) async throws -> [UsageRecord]
    func usageCount() async throws -> Int
    /// A tenant's usage rows created in `[from, to)`, summed by model, outcome and key (`GET /v1/usage`).
    func usageTotals(tenant: String, from: Date, to: Date) async throws -> [UsageTotal]
    /// What a tenant's requests created since `from` cost, micro-dollars (its budget's spend).
    func spendMicros(tenant: String, from: Date) async throws -> Int64

    /// Stores energy intervals, each second of a node's draw at most once: an interval already stored (same node,
    /// start and end) is left as it is, so a node may resend intervals after a reconnect; one that overlaps a stored
    /// interval of its node otherwise, or is longer than an hour, is refused (never summed). Returns how many were new.
    @discardableResult
    func recordEnergy(_ records: [EnergyRecord]) async throws -> Int
    /// A home's energy intervals that start in `[from, to)`, oldest first.
    func energy(home: String, from: Date, to: Date) async throws -> [EnergyRecord]
}

/// Energy a node drew over one interval, credited to the home that hosts it.
public struct EnergyRecord: Sendable, Equatable {
    public var nodeID: NodeID
    public var homeID: String
    public var start: Date
    public var end: Date
    public var wattHours: Double
    /// Of ``wattHours``, what the node drew from its battery (nil: a node without one); the rest came from the grid.
    public var batteryWattHours: Double?
    /// The grid events in force for the node when the interval began (their ids, comma-separated; nil: none):
    /// the demand-response events the node answered, for the host's statement.
    public var gridEvents: String?

    public init(
        nodeID: NodeID, homeID: String, start: Date, end: Date, wattHours: Double, batteryWattHours: Double? = nil,
        gridEvents: String? = nil
    ) {
        self.nodeID = nodeID
        self.homeID = homeID
        self.start = start
        self.end = end
        self.wattHours = wattHours
        self.batteryWattHours = batteryWattHours
        self.gridEvents = gridEvents
    }

    /// What the node drew from the grid in the interval.
    public var gridWattHours: Double { max(0, wattHours - (batteryWattHours ?? 0)) }
}

extension EnergyRecord {
    /// The longest energy interval a store keeps, seconds (the tunnel refuses longer ones too).
    static let longestIntervalSeconds = 3_600.0

    /// Whole Unix seconds from a stored time (intervals are whole seconds; anything odd is clamped, never trapped).
    static func wholeSeconds(_ value: Double) -> Int64 {
        guard value.isFinite else { return 0 }
        return Int64(max(-9e15, min(9e15, value.rounded())))
    }
}

/// A node as the registry remembers it.
public struct NodeRecord: Sendable, Equatable {
    public var id: NodeID
    public var engineKind: String
    public var models: [ServedModel]
    public var hardwareJSON: String
    public var slots: Int
    public var connectedAt: Date
    public var disconnectedAt: Date?

    public init(
        id: NodeID,
        engineKind: String,
        models: [ServedModel],
        hardwareJSON: String,
        slots: Int,
        connectedAt: Date,
        disconnectedAt: Date? = nil
    ) {
        self.id = id
        self.engineKind = engineKind
        self.models = models
        self.hardwareJSON = hardwareJSON
        self.slots = slots
        self.connectedAt = connectedAt
        self.disconnectedAt = disconnectedAt
    }
}

/// One request's entry in the usage ledger.
/// A tenant's usage rows of one model and outcome, summed.
public struct UsageTotal: Sendable, Equatable {
    public var model: String
    public var outcome: UsageRecord.Outcome
    public var requests: Int
    public var promptTokens: Int
    public var completionTokens: Int
    public var cachedPromptTokens: Int
    /// What the rows cost (the prices in force when each was written), micro-dollars.
    public var costMicros: Int64
    /// The key the requests came with (``APIKeyRecord/id``); nil for rows written before keys were recorded.
    public var apiKeyID: String?

    public init(
        model: String, outcome: UsageRecord.Outcome, requests: Int, promptTokens: Int, completionTokens: Int, cachedPromptTokens: Int,
        costMicros: Int64 = 0, apiKeyID: String? = nil
    ) {
        self.costMicros = costMicros
        self.apiKeyID = apiKeyID
        self.model = model
        self.outcome = outcome
        self.requests = requests
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedPromptTokens = cachedPromptTokens
    }
}

public struct UsageRecord: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case completed, failed, cancelled, refused
    }

    public var requestID: String
    public var tenant: String
    public var nodeID: NodeID?
    public var model: String
    public var taskClass: String
    public var promptTokens: Int
    public var completionTokens: Int
    public var usageReportedByEngine: Bool
    public var outcome: Outcome
    public var httpStatus: Int
    /// Gateway-observed time to first byte of the answer, if any arrived.
    public var timeToFirstTokenMilliseconds: Double?
    public var totalMilliseconds: Double
    public var createdAt: Date
    /// Nodes the request ran on: more than 1 when it failed over mid-answer.
    public var attempts: Int
    /// What the fleet computed over all attempts (nil when it equals what the client is billed for).
    public var computedPromptTokens: Int?
    public var computedCompletionTokens: Int?
    /// How the request was placed: `target` (a node predicted to meet its class target), `best-effort` (none could,
    /// even idle, and the request's policy let it run on the fastest node anyway); nil when it never reached a node.
    public var slo: String?
    /// Prompt tokens the engine served from its prompt cache, as the node reported (held within `promptTokens`).
    public var cachedPromptTokens: Int?
    /// What the request cost at the gateway's prices when it ended, micro-dollars (0: no prices configured).
    public var costMicros: Int64 = 0
    /// The key the request came with (``APIKeyRecord/id``: the first 12 hex digits of its hash).
    public var apiKeyID: String?

    /// Whether the request moved to another node while it ran.
    public var failedOver: Bool { attempts > 1 }

    public init(
        requestID: String,
        tenant: String,
        nodeID: NodeID?,
        model: String,
        taskClass: String,
        promptTokens: Int,
        completionTokens: Int,
        usageReportedByEngine: Bool,
        outcome: Outcome,
        httpStatus: Int,
        timeToFirstTokenMilliseconds: Double?,
        totalMilliseconds: Double,
        createdAt: Date,
        attempts: Int = 1,
        computedPromptTokens: Int? = nil,
        computedCompletionTokens: Int? = nil,
        slo: String? = nil,
        cachedPromptTokens: Int? = nil
    ) {
        self.slo = slo
        self.cachedPromptTokens = cachedPromptTokens
        self.attempts = attempts
        self.computedPromptTokens = computedPromptTokens
        self.computedCompletionTokens = computedCompletionTokens
        self.requestID = requestID
        self.tenant = tenant
        self.nodeID = nodeID
        self.model = model
        self.taskClass = taskClass
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.usageReportedByEngine = usageReportedByEngine
        self.outcome = outcome
        self.httpStatus = httpStatus
        self.timeToFirstTokenMilliseconds = timeToFirstTokenMilliseconds
        self.totalMilliseconds = totalMilliseconds
        self.createdAt = createdAt
    }
}

public struct FleetStoreError: Error, CustomStringConvertible {
    public var requestIDs: [String]
    public var description: String { "usage already recorded for \(requestIDs.joined(separator: ", "))" }

    public static func duplicateUsage(_ ids: [String]) -> FleetStoreError { FleetStoreError(requestIDs: ids) }
}
