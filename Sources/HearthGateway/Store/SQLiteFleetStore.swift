public import Foundation
import GRDB
public import HearthCore

/// ``FleetStore`` on SQLite through GRDB, in WAL mode so readers never block the ledger writer.
public final class SQLiteFleetStore: FleetStore {
    private let database: DatabasePool

    /// Opens (and migrates) the database at `path`, creating it if needed.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        // Every committed ledger write (usage, energy) survives a crash or power cut, not only a process kill.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        database = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "node") { t in
                t.primaryKey("id", .text)
                t.column("engine_kind", .text).notNull()
                t.column("models_json", .text).notNull()
                t.column("hardware_json", .text).notNull()
                t.column("slots", .integer).notNull()
                t.column("connected_at", .double).notNull()
                t.column("disconnected_at", .double)
            }
            try db.create(table: "api_key") { t in
                t.primaryKey("key_hash", .text)
                t.column("tenant", .text).notNull()
                t.column("created_at", .double).notNull()
            }
            try db.create(table: "usage") { t in
                t.primaryKey("request_id", .text)
                t.column("tenant", .text).notNull()
                t.column("node_id", .text)
                t.column("model", .text).notNull()
                t.column("task_class", .text).notNull()
                t.column("prompt_tokens", .integer).notNull()
                t.column("completion_tokens", .integer).notNull()
                t.column("usage_reported_by_engine", .boolean).notNull()
                t.column("outcome", .text).notNull()
                t.column("http_status", .integer).notNull()
                t.column("ttft_ms", .double)
                t.column("total_ms", .double).notNull()
                t.column("created_at", .double).notNull()
            }
            try db.create(index: "usage_by_tenant", on: "usage", columns: ["tenant", "created_at"])
        }
        migrator.registerMigration("v2-energy-failover") { db in
            try db.create(table: "energy") { t in
                t.column("node_id", .text).notNull()
                t.column("home_id", .text).notNull()
                t.column("interval_start", .double).notNull()
                t.column("interval_end", .double).notNull()
                t.column("watt_hours", .double).notNull()
                t.primaryKey(["node_id", "interval_start"])
            }
            try db.create(index: "energy_by_home", on: "energy", columns: ["home_id", "interval_start"])
            try db.alter(table: "usage") { t in
                t.add(column: "attempts", .integer).notNull().defaults(to: 1)
                t.add(column: "computed_prompt_tokens", .integer)
                t.add(column: "computed_completion_tokens", .integer)
            }
        }
        migrator.registerMigration("v3-tenants") { db in
            try db.create(table: "tenant") { t in
                t.primaryKey("tenant", .text)
                t.column("data_class", .text).notNull().defaults(to: DataClass.standard.rawValue)
                t.column("requests_per_minute", .integer)
                t.column("tokens_per_minute", .integer)
                t.column("max_concurrent", .integer)
                t.column("updated_at", .double).notNull()
            }
            try db.alter(table: "api_key") { t in
                t.add(column: "revoked_at", .double)
            }
        }
        migrator.registerMigration("v4-slo") { db in
            try db.alter(table: "usage") { t in
                t.add(column: "slo", .text)
                t.add(column: "cached_prompt_tokens", .integer)
            }
            try db.alter(table: "tenant") { t in t.add(column: "slo_policy", .text) }
        }
        // The host's statement: energy by source (grid, battery) and the grid events the node answered.
        migrator.registerMigration("v5-energy-sources") { db in
            try db.alter(table: "energy") { t in
                t.add(column: "battery_watt_hours", .double)
                t.add(column: "grid_events", .text)
            }
        }
        // Prices and budgets: each row's cost and key, each tenant's budget.
        migrator.registerMigration("v6-spend") { db in
            try db.alter(table: "usage") { t in
                t.add(column: "cost_micros", .integer).notNull().defaults(to: 0)
                t.add(column: "api_key_id", .text)
            }
            try db.create(index: "usage_by_tenant_time", on: "usage", columns: ["tenant", "created_at"])
            try db.alter(table: "tenant") { t in
                t.add(column: "budget_micros", .integer)
                t.add(column: "budget_period", .text)
            }
        }
        return migrator
    }

    public func upsertNode(_ node: NodeRecord) async throws {
        let models = String(decoding: try JSONEncoder().encode(node.models), as: UTF8.self)
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO node (id, engine_kind, models_json, hardware_json, slots, connected_at, disconnected_at)
                    VALUES (?, ?, ?, ?, ?, ?, NULL)
                    ON CONFLICT(id) DO UPDATE SET engine_kind = excluded.engine_kind, models_json = excluded.models_json,
                      hardware_json = excluded.hardware_json, slots = excluded.slots,
                      connected_at = excluded.connected_at, disconnected_at = NULL
                    """,
                arguments: [
                    node.id.rawValue, node.engineKind, models, node.hardwareJSON, node.slots,
                    node.connectedAt.timeIntervalSince1970,
                ]
            )
        }
    }

    public func markNodeDisconnected(_ id: NodeID, at time: Date) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE node SET disconnected_at = ? WHERE id = ?",
                arguments: [time.timeIntervalSince1970, id.rawValue]
            )
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM node ORDER BY id").map { row in
                let modelsJSON: String = row["models_json"]
                let disconnected: Double? = row["disconnected_at"]
                return NodeRecord(
                    id: NodeID(row["id"]),
                    engineKind: row["engine_kind"],
                    models: (try? JSONDecoder().decode([ServedModel].self, from: Data(modelsJSON.utf8))) ?? [],
                    hardwareJSON: row["hardware_json"],
                    slots: row["slots"],
                    connectedAt: Date(timeIntervalSince1970: row["connected_at"]),
                    disconnectedAt: disconnected.map(Date.init(timeIntervalSince1970:))
                )
            }
        }
    }

    public func addAPIKey(hash: String, tenant: String, createdAt: Date) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO api_key (key_hash, tenant, created_at) VALUES (?, ?, ?)",
                arguments: [hash, tenant, createdAt.timeIntervalSince1970]
            )
        }
    }

    public func tenant(forKeyHash hash: String) async throws -> String? {
        try await database.read { db in
            try String.fetchOne(db, sql: "SELECT tenant FROM api_key WHERE key_hash = ? AND revoked_at IS NULL", arguments: [hash])
        }
    }

    public func upsertTenant(_ policy: TenantPolicy) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO tenant (tenant, data_class, requests_per_minute, tokens_per_minute, max_concurrent, slo_policy,
                      budget_micros, budget_period, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(tenant) DO UPDATE SET data_class = excluded.data_class,
                      requests_per_minute = excluded.requests_per_minute, tokens_per_minute = excluded.tokens_per_minute,
                      max_concurrent = excluded.max_concurrent, slo_policy = excluded.slo_policy,
                      budget_micros = excluded.budget_micros, budget_period = excluded.budget_period,
                      updated_at = excluded.updated_at
                    """,
                arguments: [
                    policy.tenant, policy.dataClass.rawValue, policy.requestsPerMinute, policy.tokensPerMinute, policy.maxConcurrent,
                    policy.sloPolicy?.rawValue, policy.budget?.limitMicros, policy.budget?.period.rawValue,
                    Date().timeIntervalSince1970,
                ])
        }
    }

    public func tenantPolicy(named tenant: String) async throws -> TenantPolicy? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tenant WHERE tenant = ?", arguments: [tenant]).map(Self.tenantPolicy)
        }
    }

    public func tenantPolicy(forKeyHash hash: String) async throws -> TenantPolicy? {
        try await database.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT k.tenant AS tenant, t.data_class AS data_class, t.requests_per_minute AS requests_per_minute,
                          t.tokens_per_minute AS tokens_per_minute, t.max_concurrent AS max_concurrent,
                          t.slo_policy AS slo_policy, t.budget_micros AS budget_micros, t.budget_period AS budget_period
                        FROM api_key k LEFT JOIN tenant t ON t.tenant = k.tenant
                        WHERE k.key_hash = ? AND k.revoked_at IS NULL
                        """,
                    arguments: [hash])
            else { return nil }
            return Self.tenantPolicy(row)
        }
    }

    public func apiKeys() async throws -> [APIKeyRecord] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT k.key_hash AS key_hash, k.tenant AS tenant, k.created_at AS created_at, k.revoked_at AS revoked_at,
                      t.data_class AS data_class
                    FROM api_key k LEFT JOIN tenant t ON t.tenant = k.tenant ORDER BY k.created_at, k.key_hash
                    """
            ).map { row in
                let dataClass: String? = row["data_class"]
                let revoked: Double? = row["revoked_at"]
                return APIKeyRecord(
                    keyHash: row["key_hash"], tenant: row["tenant"],
                    dataClass: dataClass.flatMap(DataClass.init(rawValue:)) ?? .standard,
                    createdAt: Date(timeIntervalSince1970: row["created_at"]), revokedAt: revoked.map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    @discardableResult
    public func revokeAPIKey(hash: String, at time: Date) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE api_key SET revoked_at = ? WHERE key_hash = ? AND revoked_at IS NULL",
                arguments: [time.timeIntervalSince1970, hash])
            return db.changesCount > 0
        }
    }

    /// A `tenant` row, or a key's row left-joined to it (absent columns: the defaults).
    private static func tenantPolicy(_ row: Row) -> TenantPolicy {
        TenantPolicy(
            stored: row["tenant"], dataClass: row["data_class"], requestsPerMinute: row["requests_per_minute"],
            tokensPerMinute: row["tokens_per_minute"], maxConcurrent: row["max_concurrent"], sloPolicy: row["slo_policy"],
            budgetMicros: row["budget_micros"], budgetPeriod: row["budget_period"])
    }

    public func appendUsage(_ records: [UsageRecord]) async throws {
        guard !records.isEmpty else { return }
        let duplicates = try await database.write { db -> [String] in
            var duplicates: [String] = []
            let statement = try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO usage (request_id, tenant, node_id, model, task_class, prompt_tokens,
                      completion_tokens, usage_reported_by_engine, outcome, http_status, ttft_ms, total_ms, created_at,
                      attempts, computed_prompt_tokens, computed_completion_tokens, slo,
                      cached_prompt_tokens, cost_micros, api_key_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """
            )
            for record in records {
                try statement.execute(arguments: [
                    record.requestID, record.tenant, record.nodeID?.rawValue, record.model, record.taskClass,
                    record.promptTokens, record.completionTokens, record.usageReportedByEngine,
                    record.outcome.rawValue, record.httpStatus, record.timeToFirstTokenMilliseconds,
                    record.totalMilliseconds, record.createdAt.timeIntervalSince1970,
                    record.attempts, record.computedPromptTokens, record.computedCompletionTokens, record.slo,
                    record.cachedPromptTokens, record.costMicros, record.apiKeyID,
                ])
                if db.changesCount == 0 { duplicates.append(record.requestID) }
            }
            return duplicates
        }
        // Thrown after the transaction commits: the rest of the batch stays written, a duplicate never costs another
        // request its row (thrown inside `write`, it would roll the whole batch back).
        if !duplicates.isEmpty { throw FleetStoreError.duplicateUsage(duplicates) }
    }

    public func usage(requestID: String) async throws -> [UsageRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM usage WHERE request_id = ?", arguments: [requestID]).map(Self.usageRecord)
        }
    }

    public func usageCount() async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM usage") ?? 0 }
    }

    public func usageTotals(tenant: String, from: Date, to: Date) async throws -> [UsageTotal] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT model, outcome, api_key_id, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt,
                      SUM(completion_tokens) AS completion, SUM(COALESCE(cached_prompt_tokens, 0)) AS cached,
                      SUM(cost_micros) AS cost
                    FROM usage WHERE tenant = ? AND created_at >= ? AND created_at < ?
                    GROUP BY model, outcome, api_key_id ORDER BY model, outcome, api_key_id
                    """,
                arguments: [tenant, from.timeIntervalSince1970, to.timeIntervalSince1970]
            ).compactMap { row in
                let outcome: String = row["outcome"]
                return UsageRecord.Outcome(rawValue: outcome).map {
                    UsageTotal(
                        model: row["model"], outcome: $0, requests: row["requests"], promptTokens: row["prompt"],
                        completionTokens: row["completion"], cachedPromptTokens: row["cached"], costMicros: row["cost"],
                        apiKeyID: row["api_key_id"])
                }
            }
        }
    }

    public func spendMicros(tenant: String, from: Date) async throws -> Int64 {
        try await database.read { db in
            try Int64.fetchOne(
                db, sql: "SELECT COALESCE(SUM(cost_micros), 0) FROM usage WHERE tenant = ? AND created_at >= ?",
                arguments: [tenant, from.timeIntervalSince1970]) ?? 0
        }
    }

    private static func usageRecord(_ row: Row) -> UsageRecord {
        let node: String? = row["node_id"]
        let outcome: String = row["outcome"]
        var record = UsageRecord(
            requestID: row["request_id"],
            tenant: row["tenant"],
            nodeID: node.map(NodeID.init),
            model: row["model"],
            taskClass: row["task_class"],
            promptTokens: row["prompt_tokens"],
            completionTokens: row["completion_tokens"],
            usageReportedByEngine: row["usage_reported_by_engine"],
            outcome: UsageRecord.Outcome(rawValue: outcome) ?? .failed,
            httpStatus: row["http_status"],
            timeToFirstTokenMilliseconds: row["ttft_ms"],
            totalMilliseconds: row["total_ms"],
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            attempts: row["attempts"],
            computedPromptTokens: row["computed_prompt_tokens"],
            computedCompletionTokens: row["computed_completion_tokens"],
            slo: row["slo"],
            cachedPromptTokens: row["cached_prompt_tokens"]
        )
        record.costMicros = row["cost_micros"]
        record.apiKeyID = row["api_key_id"]
        return record
    }

    @discardableResult
    public func recordEnergy(_ records: [EnergyRecord]) async throws -> Int {
        guard !records.isEmpty else { return 0 }
        return try await database.write { db in
            // The node's stored intervals that could touch the new one: none is longer than an hour (longer ones are
            // never stored), so the search starts an hour before it and stays on the primary key's index.
            let neighbours = try db.cachedStatement(
                sql: """
                    SELECT interval_start, interval_end, watt_hours FROM energy
                    WHERE node_id = ? AND interval_start > ? AND interval_start < ?
                    """)
            let insert = try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO energy
                      (node_id, home_id, interval_start, interval_end, watt_hours, battery_watt_hours, grid_events)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
            var added = 0
            for record in records {
                let start = record.start.timeIntervalSince1970
                let end = record.end.timeIntervalSince1970
                guard start.isFinite, end.isFinite, end > start, end - start <= EnergyRecord.longestIntervalSeconds else { continue }
                let stored = try Row.fetchAll(
                    neighbours, arguments: [record.nodeID.rawValue, start - EnergyRecord.longestIntervalSeconds, end]
                ).map { row in
                    EnergyMeter.Interval(
                        start: EnergyRecord.wholeSeconds(row["interval_start"]), end: EnergyRecord.wholeSeconds(row["interval_end"]),
                        wattHours: row["watt_hours"])
                }
                let candidate = EnergyMeter.Interval(
                    start: EnergyRecord.wholeSeconds(start), end: EnergyRecord.wholeSeconds(end), wattHours: record.wattHours)
                // Each second of a node's draw is credited once: a resend is already there, an overlap is refused.
                guard EnergyLedgerMerge.outcome(of: candidate, stored: stored) == .insert else { continue }
                try insert.execute(
                    arguments: [
                        record.nodeID.rawValue, record.homeID, start, end, record.wattHours, record.batteryWattHours, record.gridEvents,
                    ])
                added += db.changesCount
            }
            return added
        }
    }

    public func energy(home: String, from: Date, to: Date) async throws -> [EnergyRecord] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM energy WHERE home_id = ? AND interval_start >= ? AND interval_start < ?
                    ORDER BY interval_start, node_id
                    """,
                arguments: [home, from.timeIntervalSince1970, to.timeIntervalSince1970]
            ).map { row in
                EnergyRecord(
                    nodeID: NodeID(row["node_id"]), homeID: row["home_id"],
                    start: Date(timeIntervalSince1970: row["interval_start"]), end: Date(timeIntervalSince1970: row["interval_end"]),
                    wattHours: row["watt_hours"], batteryWattHours: row["battery_watt_hours"], gridEvents: row["grid_events"])
            }
        }
    }
}
