import Foundation
import HearthCore
import HearthGateway
import Logging
import Testing

/// What every ``FleetStore`` promises, checked on SQLite and on a real PostgreSQL server with the same tests.
@Suite struct FleetStoreContractTests {
    enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }
    }

    /// Runs `body` with a fresh, empty store of `backend`.
    static func withStore(_ backend: Backend, _ body: (any FleetStore) async throws -> Void) async throws {
        switch backend {
        case .sqlite:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try await body(try SQLiteFleetStore(path: directory.appendingPathComponent("fleet.sqlite").path))
        case .postgres:
            try await TestPostgres.with { address in
                try await PostgresFleetStore.withStore(address, logger: Logger(label: "hearth.test.store")) { try await body($0) }
            }
        }
    }

    static func second(_ value: Double) -> Date { Date(timeIntervalSince1970: value) }

    @Test(arguments: Backend.allCases)
    func nodesAreRememberedAndMarkedDisconnected(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let first = NodeRecord(
                id: NodeID("b"), engineKind: "llama", models: [ServedModel(id: "m", contextTokens: 4096)], hardwareJSON: "{}", slots: 4,
                connectedAt: Self.second(1_000))
            try await store.upsertNode(first)
            try await store.upsertNode(
                NodeRecord(
                    id: NodeID("a"), engineKind: "sim", models: [], hardwareJSON: #"{"gpus":1}"#, slots: 1, connectedAt: Self.second(1_001))
            )
            try await store.markNodeDisconnected(NodeID("b"), at: Self.second(1_010))
            var nodes = try await store.nodes()
            #expect(nodes.map(\.id) == [NodeID("a"), NodeID("b")])
            #expect(nodes[1].disconnectedAt == Self.second(1_010))
            #expect(nodes[1].models == first.models)
            // Registering again clears the disconnection and takes the new facts.
            var again = first
            again.slots = 8
            again.connectedAt = Self.second(1_020)
            try await store.upsertNode(again)
            nodes = try await store.nodes()
            #expect(nodes[1] == again)
        }
    }

    @Test(arguments: Backend.allCases)
    func keysLeadToTheirTenantsPoliciesUntilRevoked(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            try await store.addAPIKey(hash: "h1", tenant: "acme", createdAt: Self.second(100))
            try await store.addAPIKey(hash: "h1", tenant: "someone-else", createdAt: Self.second(101))  // ignored: the hash is taken
            try await store.addAPIKey(hash: "h2", tenant: "acme", createdAt: Self.second(102))
            #expect(try await store.tenant(forKeyHash: "h1") == "acme")
            #expect(try await store.tenant(forKeyHash: "nope") == nil)
            // No stored policy: the defaults.
            #expect(try await store.tenantPolicy(forKeyHash: "h1") == TenantPolicy(tenant: "acme"))
            #expect(try await store.tenantPolicy(named: "acme") == nil)

            let policy = TenantPolicy(
                tenant: "acme", dataClass: .sensitive, requestsPerMinute: 60, tokensPerMinute: nil, maxConcurrent: 4, sloPolicy: .strict)
            try await store.upsertTenant(policy)
            #expect(try await store.tenantPolicy(named: "acme") == policy)
            #expect(try await store.tenantPolicy(forKeyHash: "h2") == policy)
            var changed = policy
            changed.requestsPerMinute = nil
            changed.tokensPerMinute = 1_000
            try await store.upsertTenant(changed)
            #expect(try await store.tenantPolicy(forKeyHash: "h1") == changed)

            #expect(try await store.revokeAPIKey(hash: "h1", at: Self.second(200)))
            #expect(try await !store.revokeAPIKey(hash: "h1", at: Self.second(201)))
            #expect(try await store.tenant(forKeyHash: "h1") == nil)
            #expect(try await store.tenantPolicy(forKeyHash: "h1") == nil)
            let keys = try await store.apiKeys()
            #expect(
                keys == [
                    APIKeyRecord(
                        keyHash: "h1", tenant: "acme", dataClass: .sensitive, createdAt: Self.second(100), revokedAt: Self.second(200)),
                    APIKeyRecord(keyHash: "h2", tenant: "acme", dataClass: .sensitive, createdAt: Self.second(102), revokedAt: nil),
                ])
        }
    }

    static func usage(_ id: String, tenant: String = "acme") -> UsageRecord {
        UsageRecord(
            requestID: id, tenant: tenant, nodeID: NodeID("n1"), model: "m", taskClass: "chat", promptTokens: 12, completionTokens: 30,
            usageReportedByEngine: true, outcome: .completed, httpStatus: 200, timeToFirstTokenMilliseconds: 41.5,
            totalMilliseconds: 900.25,
            createdAt: Self.second(5_000), attempts: 2, computedPromptTokens: 24, computedCompletionTokens: 31, slo: "target",
            cachedPromptTokens: 8)
    }

    @Test(arguments: Backend.allCases)
    func usageRowsAreWrittenOncePerRequest(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            var bare = Self.usage("r2")
            bare.nodeID = nil
            bare.timeToFirstTokenMilliseconds = nil
            bare.computedPromptTokens = nil
            bare.computedCompletionTokens = nil
            bare.slo = nil
            bare.cachedPromptTokens = nil
            bare.outcome = .refused
            try await store.appendUsage([Self.usage("r1"), bare])
            #expect(try await store.usage(requestID: "r1") == [Self.usage("r1")])
            #expect(try await store.usage(requestID: "r2") == [bare])
            #expect(try await store.usage(requestID: "absent") == [])

            // A batch with a duplicate: the duplicate is refused by name, the rest of the batch is written.
            var refused: [String] = []
            do {
                try await store.appendUsage([Self.usage("r3"), Self.usage("r1", tenant: "other")])
            } catch let error as FleetStoreError {
                refused = error.requestIDs
            }
            #expect(refused == ["r1"])
            #expect(try await store.usage(requestID: "r1") == [Self.usage("r1")])
            #expect(try await store.usage(requestID: "r3") == [Self.usage("r3")])
            #expect(try await store.usageCount() == 3)

            // A tenant's totals by model and outcome, for its window only (`GET /v1/usage`).
            let one = Self.usage("r1")
            let window = (from: one.createdAt.addingTimeInterval(-1), to: one.createdAt.addingTimeInterval(1))
            let totals = try await store.usageTotals(tenant: "acme", from: window.from, to: window.to)
            let completed = try #require(totals.first { $0.outcome == one.outcome })
            #expect(completed.requests == 2 && completed.model == one.model)
            #expect(completed.promptTokens == 2 * one.promptTokens && completed.completionTokens == 2 * one.completionTokens)
            #expect(completed.cachedPromptTokens == 2 * (one.cachedPromptTokens ?? 0))
            #expect(totals.first { $0.outcome == .refused }?.requests == 1)
            #expect(try await store.usageTotals(tenant: "acme", from: window.to, to: window.to.addingTimeInterval(60)).isEmpty)
            #expect(try await store.usageTotals(tenant: "nobody", from: window.from, to: window.to).isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func costsKeysAndBudgetsAreStoredAndSummed(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            var early = Self.usage("s1")
            early.costMicros = 1_500
            early.apiKeyID = "aaaaaaaaaaaa"
            var late = Self.usage("s2")
            late.createdAt = Self.second(9_000)
            late.costMicros = 2_500
            late.apiKeyID = "bbbbbbbbbbbb"
            var elsewhere = Self.usage("s3", tenant: "other")
            elsewhere.costMicros = 7
            try await store.appendUsage([early, late, elsewhere])
            #expect(try await store.usage(requestID: "s2") == [late])
            #expect(try await store.spendMicros(tenant: "acme", from: Self.second(0)) == 4_000)
            #expect(try await store.spendMicros(tenant: "acme", from: Self.second(6_000)) == 2_500)
            #expect(try await store.spendMicros(tenant: "nobody", from: Self.second(0)) == 0)
            let totals = try await store.usageTotals(tenant: "acme", from: Self.second(0), to: Self.second(10_000))
            #expect(Set(totals.compactMap(\.apiKeyID)) == ["aaaaaaaaaaaa", "bbbbbbbbbbbb"])
            #expect(totals.reduce(Int64(0)) { $0 + $1.costMicros } == 4_000)

            // A tenant's budget survives the round trip, by name and by key.
            try await store.upsertTenant(TenantPolicy(tenant: "acme", budget: Budget(limitMicros: 5_000_000, period: .monthly)))
            #expect(try await store.tenantPolicy(named: "acme")?.budget == Budget(limitMicros: 5_000_000, period: .monthly))
            try await store.addAPIKey(hash: String(repeating: "c", count: 64), tenant: "acme", createdAt: Self.second(1))
            let policy = try await store.tenantPolicy(forKeyHash: String(repeating: "c", count: 64))
            #expect(policy?.budget?.period == .monthly)
            try await store.upsertTenant(TenantPolicy(tenant: "acme"))
            #expect(try await store.tenantPolicy(named: "acme")?.budget == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func energyIsCreditedOncePerSecondOfDraw(_ backend: Backend) async throws {
        try await Self.withStore(backend) { store in
            let node = NodeID("n1")
            let first = EnergyRecord(nodeID: node, homeID: "home-1", start: Self.second(0), end: Self.second(60), wattHours: 10)
            // A battery's share and the grid events in force are kept with the interval, for the host's statement.
            let second = EnergyRecord(
                nodeID: node, homeID: "home-1", start: Self.second(60), end: Self.second(120), wattHours: 12, batteryWattHours: 9.5,
                gridEvents: "dr-1,dr-2")
            let recorded = try await store.recordEnergy([first, second])
            // A resend after a reconnect: already there.
            let resent = try await store.recordEnergy([second])
            #expect(recorded == 2 && resent == 0)
            // An interval that overlaps a stored one, one longer than an hour, one that ends before it starts: refused.
            let overlapping = EnergyRecord(nodeID: node, homeID: "home-1", start: Self.second(30), end: Self.second(90), wattHours: 99)
            let long = EnergyRecord(nodeID: node, homeID: "home-1", start: Self.second(200), end: Self.second(4_000), wattHours: 1)
            let backwards = EnergyRecord(nodeID: node, homeID: "home-1", start: Self.second(500), end: Self.second(400), wattHours: 1)
            let refused = try await store.recordEnergy([overlapping, long, backwards])
            #expect(refused == 0)
            let other = EnergyRecord(nodeID: NodeID("n2"), homeID: "home-2", start: Self.second(0), end: Self.second(60), wattHours: 5)
            let otherHome = try await store.recordEnergy([other])
            #expect(otherHome == 1)
            let wholeHour = try await store.energy(home: "home-1", from: Self.second(0), to: Self.second(3_600))
            let oneSecond = try await store.energy(home: "home-1", from: Self.second(60), to: Self.second(61))
            let homeTwo = try await store.energy(home: "home-2", from: Self.second(0), to: Self.second(60))
            #expect(wholeHour == [first, second])
            #expect(oneSecond == [second])
            #expect(homeTwo == [other])
        }
    }
}

/// The PostgreSQL store's own concerns: its schema migrates once however many replicas open it.
@Suite struct PostgresFleetStoreTests {
    @Test func replicasOpeningOneDatabaseTogetherMigrateItOnceAndShareIt() async throws {
        try await TestPostgres.with { address in
            let logger = Logger(label: "hearth.test.store")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for replica in 0..<3 {
                    group.addTask {
                        try await PostgresFleetStore.withStore(address, logger: logger) { store in
                            try await store.appendUsage([FleetStoreContractTests.usage("replica-\(replica)")])
                        }
                    }
                }
                try await group.waitForAll()
            }
            let count = try await PostgresFleetStore.withStore(address, logger: logger) { store in try await store.usageCount() }
            #expect(count == 3)
        }
    }

    @Test func storeURLsAreParsedOrRefusedWithTheReason() throws {
        let address = try PostgresStoreAddress(url: "postgres://hearth:secret@db.example:6432/fleet?sslmode=require")
        #expect(
            address
                == PostgresStoreAddress(
                    host: "db.example", port: 6432, username: "hearth", password: "secret", database: "fleet", tls: .require))
        #expect(try PostgresStoreAddress(url: "postgresql://u@h/d") == PostgresStoreAddress(host: "h", username: "u", database: "d"))
        for bad in ["mysql://u@h/d", "postgres://h/d", "postgres://u@h", "postgres://u@h/d?sslmode=maybe", "postgres://u@h/d?x=1"] {
            #expect(throws: PostgresStoreAddress.ParseError.self) { try PostgresStoreAddress(url: bad) }
        }
    }
}

/// A gateway on PostgreSQL, with the operator's commands (`hearth keys --store`) run as a user runs them.
@Suite struct PostgresGatewayTests {
    @Test func aKeyMadeByTheCommandServesRequestsWhoseUsageLandsInPostgres() async throws {
        let hearth = try ChildProcesses.built("hearth")
        try await TestPostgres.with { address in
            let url = "postgres://\(address.username)@\(address.host):\(address.port)/\(address.database)?sslmode=disable"
            let printed = try await OpenAIClientTests.run(hearth, ["keys", "create", "--store", url, "--tenant", "acme", "--rpm", "100"])
            let key = printed.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(key.hasPrefix("hearth-"))
            let engine = TestEngine { _, _, emit in
                for chunk in TestEngine.json(text: "stored") { try await emit(chunk) }
            }
            try await PostgresFleetStore.withStore(address, logger: Logger(label: "hearth.test.store")) { store in
                try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: engine)], store: store) { fleet in
                    let answer = try await fleet.post(json: chatBody(model: "test-model"), apiKey: key)
                    #expect(answer.status == 200, "\(answer.body)")
                    try await fleet.gateway.ledger.flush()
                    let requestID = try #require(answer.headers["x-request-id"])
                    let row = try #require(try await store.usage(requestID: requestID).first)
                    #expect(row.tenant == "acme")
                    #expect(row.outcome == .completed)
                    #expect(try await store.tenantPolicy(named: "acme")?.requestsPerMinute == 100)

                    // Revoked by the command, refused by the gateway within its key cache's bound.
                    let id = try #require(try await store.apiKeys().first { $0.tenant == "acme" }?.id)
                    _ = try await OpenAIClientTests.run(hearth, ["keys", "revoke", "--store", url, id])
                    #expect(try await store.tenant(forKeyHash: APIKeyAuthenticator.hash(key)) == nil)
                }
            }
        }
    }
}
