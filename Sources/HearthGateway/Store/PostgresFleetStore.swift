public import Foundation
public import HearthCore
public import Logging
import NIOSSL
import PostgresNIO

/// ``FleetStore`` on PostgreSQL (postgres-nio's pooled client), for gateways that share one fleet.
///
/// Same contract as ``SQLiteFleetStore``, and the same tests run against both (`FleetStoreContractTests`). Every
/// ledger write is idempotent by key (a usage row by request id, an energy interval by node and start), so a retry
/// never counts twice, whichever replica retries. Times are Unix seconds in `double precision`, as in SQLite.
public final class PostgresFleetStore: FleetStore {
    private let client: PostgresClient
    private let logger: Logger
    /// The fleet's identity records, in the same database.
    let identityRecords: PostgresIdentityStore
    /// The replicas' shared power reports and limits, and the coordinator's lease.
    package let powerExchange: PostgresPowerExchange
    /// The replicas serving the fleet now.
    let replicaRoll: PostgresReplicaRoll

    private init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        identityRecords = PostgresIdentityStore(client: client, logger: logger)
        powerExchange = PostgresPowerExchange(client: client, logger: logger)
        replicaRoll = PostgresReplicaRoll(client: client, logger: logger)
    }

    /// Connects, brings the schema up to date and runs `body` with the store; the connections close when it returns.
    public static func withStore<Result: Sendable>(
        _ address: PostgresStoreAddress, logger: Logger, _ body: (PostgresFleetStore) async throws -> Result
    ) async throws -> Result {
        let tls: PostgresClient.Configuration.TLS =
            switch address.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: address.host, port: address.port, username: address.username, password: address.password,
            database: address.database, tls: tls)
        configuration.options.connectTimeout = .seconds(10)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = PostgresFleetStore(client: client, logger: logger)
            try await store.migrate()
            return try await body(store)
        }
    }

    // MARK: Schema

    /// Each version's statements, applied once, in order, in one transaction under an advisory lock: replicas that
    /// start together never migrate twice.
    static let migrations: [(version: Int, statements: [String])] = [
        (
            1,
            [
                """
                CREATE TABLE node (
                  id text PRIMARY KEY, engine_kind text NOT NULL, models_json text NOT NULL, hardware_json text NOT NULL,
                  slots bigint NOT NULL, connected_at double precision NOT NULL, disconnected_at double precision)
                """,
                """
                CREATE TABLE api_key (
                  key_hash text PRIMARY KEY, tenant text NOT NULL, created_at double precision NOT NULL,
                  revoked_at double precision)
                """,
                """
                CREATE TABLE tenant (
                  tenant text PRIMARY KEY, data_class text NOT NULL DEFAULT 'standard', requests_per_minute bigint,
                  tokens_per_minute bigint, max_concurrent bigint, slo_policy text, updated_at double precision NOT NULL)
                """,
                """
                CREATE TABLE usage (
                  request_id text PRIMARY KEY, tenant text NOT NULL, node_id text, model text NOT NULL,
                  task_class text NOT NULL, prompt_tokens bigint NOT NULL, completion_tokens bigint NOT NULL,
                  usage_reported_by_engine boolean NOT NULL, outcome text NOT NULL, http_status bigint NOT NULL,
                  ttft_ms double precision, total_ms double precision NOT NULL, created_at double precision NOT NULL,
                  attempts bigint NOT NULL DEFAULT 1, computed_prompt_tokens bigint, computed_completion_tokens bigint,
                  slo text, cached_prompt_tokens bigint)
                """,
                "CREATE INDEX usage_by_tenant ON usage (tenant, created_at)",
                """
                CREATE TABLE energy (
                  node_id text NOT NULL, home_id text NOT NULL, interval_start double precision NOT NULL,
                  interval_end double precision NOT NULL, watt_hours double precision NOT NULL,
                  PRIMARY KEY (node_id, interval_start))
                """,
                "CREATE INDEX energy_by_home ON energy (home_id, interval_start)",
            ]
        ),
        // The identity records, shared by the replicas (PostgresIdentityStore).
        (2, PostgresIdentityStore.schema),
        // The power reports and limits the replicas share, and the coordinator's (PostgresPowerExchange).
        (3, PostgresPowerExchange.schema),
        // The replicas serving now, for their shares of the tenants' limits (PostgresReplicaRoll).
        (4, PostgresReplicaRoll.schema),
        // The host's statement: energy by source (grid, battery) and the grid events the node answered.
        (5, ["ALTER TABLE energy ADD COLUMN battery_watt_hours double precision, ADD COLUMN grid_events text"]),
        // Prices and budgets: each row's cost and key, each tenant's budget.
        (
            6,
            [
                "ALTER TABLE usage ADD COLUMN cost_micros bigint NOT NULL DEFAULT 0, ADD COLUMN api_key_id text",
                "ALTER TABLE tenant ADD COLUMN budget_micros bigint, ADD COLUMN budget_period text",
            ]
        ),
        // The operator's software measurement decisions (PostgresIdentityStore).
        (7, PostgresIdentityStore.measurementSchema),
    ]

    /// An arbitrary constant: the advisory lock that serialises migrations across replicas.
    private static let migrationLock: Int64 = 0x4845_4152_5448

    func migrate() async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS hearth_schema (version bigint PRIMARY KEY, applied_at double precision NOT NULL)",
                logger: logger)
            var applied: Set<Int> = []
            for try await version in try await connection.query("SELECT version FROM hearth_schema", logger: logger).decode(Int.self) {
                applied.insert(version)
            }
            for migration in Self.migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO hearth_schema (version, applied_at) VALUES (\(migration.version), \(Date().timeIntervalSince1970))",
                    logger: logger)
            }
        }
    }

    // MARK: Nodes

    public func upsertNode(_ node: NodeRecord) async throws {
        let models = String(decoding: try JSONEncoder().encode(node.models), as: UTF8.self)
        try await client.query(
            """
            INSERT INTO node (id, engine_kind, models_json, hardware_json, slots, connected_at, disconnected_at)
            VALUES (\(node.id.rawValue), \(node.engineKind), \(models), \(node.hardwareJSON), \(node.slots),
              \(node.connectedAt.timeIntervalSince1970), NULL)
            ON CONFLICT (id) DO UPDATE SET engine_kind = EXCLUDED.engine_kind, models_json = EXCLUDED.models_json,
              hardware_json = EXCLUDED.hardware_json, slots = EXCLUDED.slots, connected_at = EXCLUDED.connected_at,
              disconnected_at = NULL
            """, logger: logger)
    }

    public func markNodeDisconnected(_ id: NodeID, at time: Date) async throws {
        try await client.query(
            "UPDATE node SET disconnected_at = \(time.timeIntervalSince1970) WHERE id = \(id.rawValue)", logger: logger)
    }

    public func nodes() async throws -> [NodeRecord] {
        let rows = try await client.query(
            "SELECT id, engine_kind, models_json, hardware_json, slots, connected_at, disconnected_at FROM node ORDER BY id",
            logger: logger)
        var nodes: [NodeRecord] = []
        for try await (id, kind, models, hardware, slots, connected, disconnected) in rows.decode(
            (String, String, String, String, Int, Double, Double?).self)
        {
            nodes.append(
                NodeRecord(
                    id: NodeID(id), engineKind: kind,
                    models: (try? JSONDecoder().decode([ServedModel].self, from: Data(models.utf8))) ?? [], hardwareJSON: hardware,
                    slots: slots, connectedAt: Date(timeIntervalSince1970: connected),
                    disconnectedAt: disconnected.map(Date.init(timeIntervalSince1970:))))
        }
        return nodes
    }

    // MARK: Keys and tenants

    public func addAPIKey(hash: String, tenant: String, createdAt: Date) async throws {
        try await client.query(
            """
            INSERT INTO api_key (key_hash, tenant, created_at) VALUES (\(hash), \(tenant), \(createdAt.timeIntervalSince1970))
            ON CONFLICT (key_hash) DO NOTHING
            """, logger: logger)
    }

    public func tenant(forKeyHash hash: String) async throws -> String? {
        let rows = try await client.query(
            "SELECT tenant FROM api_key WHERE key_hash = \(hash) AND revoked_at IS NULL", logger: logger)
        for try await tenant in rows.decode(String.self) { return tenant }
        return nil
    }

    public func upsertTenant(_ policy: TenantPolicy) async throws {
        try await client.query(
            """
            INSERT INTO tenant (tenant, data_class, requests_per_minute, tokens_per_minute, max_concurrent, slo_policy,
              budget_micros, budget_period, updated_at)
            VALUES (\(policy.tenant), \(policy.dataClass.rawValue), \(policy.requestsPerMinute), \(policy.tokensPerMinute),
              \(policy.maxConcurrent), \(policy.sloPolicy?.rawValue), \(policy.budget?.limitMicros), \(policy.budget?.period.rawValue),
              \(Date().timeIntervalSince1970))
            ON CONFLICT (tenant) DO UPDATE SET data_class = EXCLUDED.data_class,
              requests_per_minute = EXCLUDED.requests_per_minute, tokens_per_minute = EXCLUDED.tokens_per_minute,
              max_concurrent = EXCLUDED.max_concurrent, slo_policy = EXCLUDED.slo_policy, budget_micros = EXCLUDED.budget_micros,
              budget_period = EXCLUDED.budget_period, updated_at = EXCLUDED.updated_at
            """, logger: logger)
    }

    public func tenantPolicy(named tenant: String) async throws -> TenantPolicy? {
        let rows = try await client.query(
            """
            SELECT tenant, data_class, requests_per_minute, tokens_per_minute, max_concurrent, slo_policy, budget_micros,
              budget_period
            FROM tenant WHERE tenant = \(tenant)
            """, logger: logger)
        return try await Self.firstPolicy(rows)
    }

    public func tenantPolicy(forKeyHash hash: String) async throws -> TenantPolicy? {
        let rows = try await client.query(
            """
            SELECT k.tenant, t.data_class, t.requests_per_minute, t.tokens_per_minute, t.max_concurrent, t.slo_policy,
              t.budget_micros, t.budget_period
            FROM api_key k LEFT JOIN tenant t ON t.tenant = k.tenant
            WHERE k.key_hash = \(hash) AND k.revoked_at IS NULL
            """, logger: logger)
        return try await Self.firstPolicy(rows)
    }

    /// A `tenant` row, or a key's row left-joined to it (absent columns: the defaults).
    private static func firstPolicy(_ rows: PostgresRowSequence) async throws -> TenantPolicy? {
        for try await (tenant, dataClass, requests, tokens, concurrent, slo, budget, period) in rows.decode(
            (String, String?, Int?, Int?, Int?, String?, Int64?, String?).self)
        {
            return TenantPolicy(
                stored: tenant, dataClass: dataClass, requestsPerMinute: requests, tokensPerMinute: tokens,
                maxConcurrent: concurrent, sloPolicy: slo, budgetMicros: budget, budgetPeriod: period)
        }
        return nil
    }

    public func apiKeys() async throws -> [APIKeyRecord] {
        let rows = try await client.query(
            """
            SELECT k.key_hash, k.tenant, k.created_at, k.revoked_at, t.data_class
            FROM api_key k LEFT JOIN tenant t ON t.tenant = k.tenant ORDER BY k.created_at, k.key_hash
            """, logger: logger)
        var keys: [APIKeyRecord] = []
        for try await (hash, tenant, created, revoked, dataClass) in rows.decode((String, String, Double, Double?, String?).self) {
            keys.append(
                APIKeyRecord(
                    keyHash: hash, tenant: tenant, dataClass: dataClass.flatMap(DataClass.init(rawValue:)) ?? .standard,
                    createdAt: Date(timeIntervalSince1970: created), revokedAt: revoked.map(Date.init(timeIntervalSince1970:))))
        }
        return keys
    }

    @discardableResult
    public func revokeAPIKey(hash: String, at time: Date) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE api_key SET revoked_at = \(time.timeIntervalSince1970) WHERE key_hash = \(hash) AND revoked_at IS NULL
            RETURNING key_hash
            """, logger: logger)
        var revoked = false
        for try await _ in rows.decode(String.self) { revoked = true }
        return revoked
    }

    // MARK: Usage

    public func appendUsage(_ records: [UsageRecord]) async throws {
        guard !records.isEmpty else { return }
        let logger = self.logger
        let duplicates = try await client.withTransaction(logger: logger) { connection -> [String] in
            var duplicates: [String] = []
            for record in records {
                let rows = try await connection.query(
                    """
                    INSERT INTO usage (request_id, tenant, node_id, model, task_class, prompt_tokens, completion_tokens,
                      usage_reported_by_engine, outcome, http_status, ttft_ms, total_ms, created_at, attempts,
                      computed_prompt_tokens, computed_completion_tokens, slo, cached_prompt_tokens, cost_micros, api_key_id)
                    VALUES (\(record.requestID), \(record.tenant), \(record.nodeID?.rawValue), \(record.model), \(record.taskClass),
                      \(record.promptTokens), \(record.completionTokens), \(record.usageReportedByEngine), \(record.outcome.rawValue),
                      \(record.httpStatus), \(record.timeToFirstTokenMilliseconds), \(record.totalMilliseconds),
                      \(record.createdAt.timeIntervalSince1970), \(record.attempts), \(record.computedPromptTokens),
                      \(record.computedCompletionTokens), \(record.slo), \(record.cachedPromptTokens), \(record.costMicros),
                      \(record.apiKeyID))
                    ON CONFLICT (request_id) DO NOTHING
                    RETURNING request_id
                    """, logger: logger)
                var inserted = false
                for try await _ in rows.decode(String.self) { inserted = true }
                if !inserted { duplicates.append(record.requestID) }
            }
            return duplicates
        }
        // The rest of the batch stays written: a duplicate never costs another request its row.
        if !duplicates.isEmpty { throw FleetStoreError.duplicateUsage(duplicates) }
    }

    public func usage(requestID: String) async throws -> [UsageRecord] {
        let rows = try await client.query(
            """
            SELECT request_id, tenant, node_id, model, task_class, prompt_tokens, completion_tokens, usage_reported_by_engine,
              outcome, http_status, ttft_ms, total_ms, created_at, attempts, computed_prompt_tokens,
              computed_completion_tokens, slo, cached_prompt_tokens, cost_micros, api_key_id
            FROM usage WHERE request_id = \(requestID)
            """, logger: logger)
        var records: [UsageRecord] = []
        for try await row in rows {
            let cells = row.makeRandomAccess()
            var record = UsageRecord(
                requestID: try cells["request_id"].decode(String.self),
                tenant: try cells["tenant"].decode(String.self),
                nodeID: try cells["node_id"].decode(String?.self).map(NodeID.init),
                model: try cells["model"].decode(String.self),
                taskClass: try cells["task_class"].decode(String.self),
                promptTokens: try cells["prompt_tokens"].decode(Int.self),
                completionTokens: try cells["completion_tokens"].decode(Int.self),
                usageReportedByEngine: try cells["usage_reported_by_engine"].decode(Bool.self),
                outcome: UsageRecord.Outcome(rawValue: try cells["outcome"].decode(String.self)) ?? .failed,
                httpStatus: try cells["http_status"].decode(Int.self),
                timeToFirstTokenMilliseconds: try cells["ttft_ms"].decode(Double?.self),
                totalMilliseconds: try cells["total_ms"].decode(Double.self),
                createdAt: Date(timeIntervalSince1970: try cells["created_at"].decode(Double.self)),
                attempts: try cells["attempts"].decode(Int.self),
                computedPromptTokens: try cells["computed_prompt_tokens"].decode(Int?.self),
                computedCompletionTokens: try cells["computed_completion_tokens"].decode(Int?.self),
                slo: try cells["slo"].decode(String?.self),
                cachedPromptTokens: try cells["cached_prompt_tokens"].decode(Int?.self))
            record.costMicros = try cells["cost_micros"].decode(Int64.self)
            record.apiKeyID = try cells["api_key_id"].decode(String?.self)
            records.append(record)
        }
        return records
    }

    public func usageCount() async throws -> Int {
        for try await count in try await client.query("SELECT count(*) FROM usage", logger: logger).decode(Int.self) {
            return count
        }
        return 0
    }

    public func usageTotals(tenant: String, from: Date, to: Date) async throws -> [UsageTotal] {
        let rows = try await client.query(
            """
            SELECT model, outcome, api_key_id, count(*)::bigint, sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint,
              sum(COALESCE(cached_prompt_tokens, 0))::bigint, sum(cost_micros)::bigint
            FROM usage WHERE tenant = \(tenant) AND created_at >= \(from.timeIntervalSince1970) AND created_at < \(to.timeIntervalSince1970)
            GROUP BY model, outcome, api_key_id ORDER BY model, outcome, api_key_id
            """, logger: logger)
        var totals: [UsageTotal] = []
        for try await (model, outcome, key, requests, prompt, completion, cached, cost) in rows.decode(
            (String, String, String?, Int, Int, Int, Int, Int64).self)
        {
            guard let outcome = UsageRecord.Outcome(rawValue: outcome) else { continue }
            totals.append(
                UsageTotal(
                    model: model, outcome: outcome, requests: requests, promptTokens: prompt, completionTokens: completion,
                    cachedPromptTokens: cached, costMicros: cost, apiKeyID: key))
        }
        return totals
    }

    public func spendMicros(tenant: String, from: Date) async throws -> Int64 {
        let rows = try await client.query(
            """
            SELECT COALESCE(sum(cost_micros), 0)::bigint FROM usage
            WHERE tenant = \(tenant) AND created_at >= \(from.timeIntervalSince1970)
            """, logger: logger)
        for try await spend in rows.decode(Int64.self) { return spend }
        return 0
    }

    // MARK: Energy

    @discardableResult
    public func recordEnergy(_ records: [EnergyRecord]) async throws -> Int {
        guard !records.isEmpty else { return 0 }
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection -> Int in
            var added = 0
            for record in records {
                let start = record.start.timeIntervalSince1970
                let end = record.end.timeIntervalSince1970
                let longest = EnergyRecord.longestIntervalSeconds
                guard start.isFinite, end.isFinite, end > start, end - start <= longest else { continue }
                // Another replica may record the same node at once: its rows are locked for the check and the insert.
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(record.nodeID.rawValue)))", logger: logger)
                let rows = try await connection.query(
                    """
                    SELECT interval_start, interval_end, watt_hours FROM energy
                    WHERE node_id = \(record.nodeID.rawValue) AND interval_start > \(start - longest) AND interval_start < \(end)
                    """, logger: logger)
                var stored: [EnergyMeter.Interval] = []
                for try await (storedStart, storedEnd, wattHours) in rows.decode((Double, Double, Double).self) {
                    stored.append(
                        EnergyMeter.Interval(
                            start: EnergyRecord.wholeSeconds(storedStart), end: EnergyRecord.wholeSeconds(storedEnd), wattHours: wattHours))
                }
                let candidate = EnergyMeter.Interval(
                    start: EnergyRecord.wholeSeconds(start), end: EnergyRecord.wholeSeconds(end), wattHours: record.wattHours)
                // Each second of a node's draw is credited once: a resend is already there, an overlap is refused.
                guard EnergyLedgerMerge.outcome(of: candidate, stored: stored) == .insert else { continue }
                let inserted = try await connection.query(
                    """
                    INSERT INTO energy (node_id, home_id, interval_start, interval_end, watt_hours, battery_watt_hours, grid_events)
                    VALUES (
                      \(record.nodeID.rawValue), \(record.homeID), \(start), \(end), \(record.wattHours), \(record.batteryWattHours),
                      \(record.gridEvents))
                    ON CONFLICT (node_id, interval_start) DO NOTHING
                    RETURNING node_id
                    """, logger: logger)
                for try await _ in inserted.decode(String.self) { added += 1 }
            }
            return added
        }
    }

    public func energy(home: String, from: Date, to: Date) async throws -> [EnergyRecord] {
        let rows = try await client.query(
            """
            SELECT node_id, home_id, interval_start, interval_end, watt_hours, battery_watt_hours, grid_events FROM energy
            WHERE home_id = \(home) AND interval_start >= \(from.timeIntervalSince1970) AND interval_start < \(to.timeIntervalSince1970)
            ORDER BY interval_start, node_id
            """, logger: logger)
        var records: [EnergyRecord] = []
        for try await (node, homeID, start, end, wattHours, battery, events) in rows.decode(
            (String, String, Double, Double, Double, Double?, String?).self)
        {
            records.append(
                EnergyRecord(
                    nodeID: NodeID(node), homeID: homeID, start: Date(timeIntervalSince1970: start),
                    end: Date(timeIntervalSince1970: end), wattHours: wattHours, batteryWattHours: battery, gridEvents: events))
        }
        return records
    }
}
