import ArgumentParser
import Foundation
import HearthCore
import HearthGateway

/// `hearth keys create|list|revoke`: tenants' API keys in a gateway's store (`<data-dir>/fleet.sqlite`).
///
/// Works on the database directly, so it needs no running gateway; a running one sees a revoked key at once
/// (it looks every key up in the store, uncached). Keys are stored hashed: `create` prints a key once, and
/// nothing else ever prints one.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke tenants' API keys.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct StoreOptions: ParsableArguments {
        @Option(help: "The gateway's folder (its fleet database, unless --store names a PostgreSQL one).")
        var dataDir: String = ".hearth"

        @OptionGroup var fleetStore: FleetStoreOptions

        func withStore<Result: Sendable>(_ body: (any FleetStore) async throws -> Result) async throws -> Result {
            if fleetStore.store == nil {
                try FileManager.default.createDirectory(
                    atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            return try await fleetStore.withStore(sqlitePath: dataDir + "/fleet.sqlite", logger: FleetStoreOptions.quietLogger, body)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key for a tenant (and set the tenant's data class and limits); prints the key once.")

        @OptionGroup var store: StoreOptions

        @Option(help: "The tenant the key belongs to.")
        var tenant: String

        @Option(help: "The tenant's data class: standard, sensitive, confidential (default: unchanged, or standard).")
        var dataClass: String?

        @Option(help: "Requests per minute (0 or absent: unlimited, or unchanged).")
        var rpm: Int?

        @Option(help: "Tokens per minute, prompt and completion (0 or absent: unlimited, or unchanged).")
        var tpm: Int?

        @Option(help: "Requests in flight at once (0 or absent: unlimited, or unchanged).")
        var concurrency: Int?

        @Option(
            help: ArgumentHelp(
                "The tenant's budget in dollars per --budget-period at the gateway's --prices; once spent, its requests get 429 insufficient_quota until the period starts again (0: no budget; absent: unchanged).",
                valueName: "dollars"))
        var budgetUsd: Double?

        @Option(help: "How often the budget starts again, in UTC: daily or monthly (default: unchanged, or daily).")
        var budgetPeriod: String?

        @Option(
            help: ArgumentHelp(
                "When no node can meet a request's class target even idle: strict (refuse with 503) or best-effort (serve on the fastest node); 'default': the gateway's. A request's X-Hearth-SLO-Policy header or metadata.slo_policy overrides it.",
                valueName: "policy"))
        var sloPolicy: String?

        func validate() throws {
            guard !tenant.isEmpty, tenant.count <= 128, !tenant.contains(where: \.isNewline) else {
                throw ValidationError("--tenant must be 1-128 characters on one line")
            }
            if let dataClass, DataClass(rawValue: dataClass) == nil {
                throw ValidationError("--data-class must be one of \(DataClass.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let sloPolicy, sloPolicy != "default", SLOPolicy(rawValue: sloPolicy) == nil {
                throw ValidationError("--slo-policy must be one of \(SLOPolicy.names), default")
            }
            for (name, value) in [("--rpm", rpm), ("--tpm", tpm), ("--concurrency", concurrency)] {
                if let value, value < 0 { throw ValidationError("\(name) must be 0 or more") }
            }
            if let budgetUsd, !(budgetUsd.isFinite && budgetUsd >= 0 && budgetUsd <= 1e12) {
                throw ValidationError("--budget-usd must be between 0 and 1e12 dollars")
            }
            if let budgetPeriod, BudgetPeriod(rawValue: budgetPeriod) == nil {
                throw ValidationError("--budget-period must be one of \(BudgetPeriod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            try await store.withStore { database in try await create(in: database) }
        }

        private func create(in database: any FleetStore) async throws {
            var policy = try await database.tenantPolicy(named: tenant) ?? TenantPolicy(tenant: tenant)
            if let dataClass = dataClass.flatMap(DataClass.init(rawValue:)) { policy.dataClass = dataClass }
            if let rpm { policy.requestsPerMinute = rpm == 0 ? nil : rpm }
            if let tpm { policy.tokensPerMinute = tpm == 0 ? nil : tpm }
            if let concurrency { policy.maxConcurrent = concurrency == 0 ? nil : concurrency }
            if let sloPolicy { policy.sloPolicy = SLOPolicy(rawValue: sloPolicy) }
            let period = budgetPeriod.flatMap(BudgetPeriod.init(rawValue:))
            if let budgetUsd {
                policy.budget =
                    budgetUsd == 0
                    ? nil : Budget(limitMicros: Int64((budgetUsd * 1e6).rounded()), period: period ?? policy.budget?.period ?? .daily)
            } else if let period {
                policy.budget?.period = period
            }
            try await database.upsertTenant(policy)
            let key = APIKeyAuthenticator.generateKey()
            let hash = APIKeyAuthenticator.hash(key)
            try await database.addAPIKey(hash: hash, tenant: tenant, createdAt: Date())
            print(key)
            FileHandle.standardError.write(
                Data(
                    ("key \(hash.prefix(APIKeyRecord.idLength)) for tenant \(tenant) (\(policy.dataClass)): "
                        + "shown once, stored only as a hash\n").utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (ids, never the keys).")

        @OptionGroup var store: StoreOptions

        @Flag(help: "Print a JSON array.")
        var json = false

        func run() async throws {
            let keys = try await store.withStore { try await $0.apiKeys() }
            let formatter = ISO8601DateFormatter()
            if json {
                let rows: [[String: Any]] = keys.map { key in
                    [
                        "id": key.id, "tenant": key.tenant, "data_class": key.dataClass.rawValue,
                        "created_at": formatter.string(from: key.createdAt),
                        "revoked_at": key.revokedAt.map { formatter.string(from: $0) } ?? NSNull(),
                    ]
                }
                let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .prettyPrinted])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print(["ID", "TENANT", "CLASS", "CREATED", "REVOKED"].joined(separator: "\t"))
            for key in keys {
                print(
                    [
                        key.id, key.tenant, key.dataClass.rawValue, formatter.string(from: key.createdAt),
                        key.revokedAt.map { formatter.string(from: $0) } ?? "-",
                    ].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by its id (as `list` prints it, or a longer prefix).")

        @OptionGroup var store: StoreOptions

        @Argument(help: "The key's id.")
        var id: String

        func run() async throws {
            try await store.withStore { database in try await revoke(in: database) }
        }

        private func revoke(in database: any FleetStore) async throws {
            let prefix = id.lowercased()
            guard prefix.count >= 6 else { throw ValidationError("give at least 6 characters of the key's id") }
            let matches = try await database.apiKeys().filter { $0.keyHash.hasPrefix(prefix) }
            guard matches.count == 1, let key = matches.first else {
                throw ValidationError(matches.isEmpty ? "no key with id \(id)" : "id \(id) matches \(matches.count) keys; give more of it")
            }
            guard try await database.revokeAPIKey(hash: key.keyHash, at: Date()) else {
                print("key \(key.id) (tenant \(key.tenant)) was already revoked")
                return
            }
            print("revoked key \(key.id) (tenant \(key.tenant))")
        }
    }
}
