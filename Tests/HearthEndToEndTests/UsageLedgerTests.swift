import Foundation
import HearthCore
import HearthGateway
import Logging
import Synchronization
import Testing

/// The usage ledger loses no row when its store refuses a batch for a while (a database restarting), and counts none
/// twice when a batch it retries had in fact been written.
@Suite struct UsageLedgerTests {
    /// A store that refuses the next `failures` usage batches, then writes them (to SQLite) like any store; it can
    /// also commit a batch and still report a failure, as a connection lost before the commit's answer does.
    final class UnsteadyStore: FleetStore {
        enum Mode { case refuse, commitThenFail }
        let inner: SQLiteFleetStore
        private let plan = Mutex<[Mode]>([])
        /// While set, key lookups fail as a database that is down fails them.
        let readsFail = Mutex(false)

        init(path: String) throws { inner = try SQLiteFleetStore(path: path) }

        func failNext(_ modes: [Mode]) { plan.withLock { $0 = modes } }

        struct Unavailable: Error {}

        func appendUsage(_ records: [UsageRecord]) async throws {
            let mode = plan.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            switch mode {
            case .refuse?: throw Unavailable()
            case .commitThenFail?:
                try await inner.appendUsage(records)
                throw Unavailable()
            case nil: try await inner.appendUsage(records)
            }
        }

        func upsertNode(_ node: NodeRecord) async throws { try await inner.upsertNode(node) }
        func markNodeDisconnected(_ id: NodeID, at time: Date) async throws { try await inner.markNodeDisconnected(id, at: time) }
        func nodes() async throws -> [NodeRecord] { try await inner.nodes() }
        func addAPIKey(hash: String, tenant: String, createdAt: Date) async throws {
            try await inner.addAPIKey(hash: hash, tenant: tenant, createdAt: createdAt)
        }
        func tenant(forKeyHash hash: String) async throws -> String? { try await inner.tenant(forKeyHash: hash) }
        func upsertTenant(_ policy: TenantPolicy) async throws { try await inner.upsertTenant(policy) }
        func tenantPolicy(named tenant: String) async throws -> TenantPolicy? { try await inner.tenantPolicy(named: tenant) }
        func tenantPolicy(forKeyHash hash: String) async throws -> TenantPolicy? {
            if readsFail.withLock({ $0 }) { throw Unavailable() }
            return try await inner.tenantPolicy(forKeyHash: hash)
        }
        func apiKeys() async throws -> [APIKeyRecord] { try await inner.apiKeys() }
        func revokeAPIKey(hash: String, at time: Date) async throws -> Bool { try await inner.revokeAPIKey(hash: hash, at: time) }
        func usage(requestID: String) async throws -> [UsageRecord] { try await inner.usage(requestID: requestID) }
        func usageCount() async throws -> Int { try await inner.usageCount() }
        func usageTotals(tenant: String, from: Date, to: Date) async throws -> [UsageTotal] {
            try await inner.usageTotals(tenant: tenant, from: from, to: to)
        }
        func spendMicros(tenant: String, from: Date) async throws -> Int64 { try await inner.spendMicros(tenant: tenant, from: from) }
        func recordEnergy(_ records: [EnergyRecord]) async throws -> Int { try await inner.recordEnergy(records) }
        func energy(home: String, from: Date, to: Date) async throws -> [EnergyRecord] {
            try await inner.energy(home: home, from: from, to: to)
        }
    }

    @Test func aRefusedBatchIsWrittenWithTheNextAndARetriedOneIsNotCountedTwice() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try UnsteadyStore(path: directory.appendingPathComponent("fleet.sqlite").path)
        let ledger = UsageLedger(store: store, logger: Logger(label: "hearth.test.ledger"))

        store.failNext([.refuse, .commitThenFail])
        ledger.record(FleetStoreContractTests.usage("a"))
        await #expect(throws: UnsteadyStore.Unavailable.self) { try await ledger.flush() }
        #expect(try await store.usageCount() == 0)

        // The refused row goes out with the next one; this time the store commits and loses the answer.
        ledger.record(FleetStoreContractTests.usage("b"))
        await #expect(throws: UnsteadyStore.Unavailable.self) { try await ledger.flush() }
        #expect(try await store.usageCount() == 2)

        // Retried: both are already there, reported as duplicates and not written again; nothing more is pending.
        ledger.record(FleetStoreContractTests.usage("c"))
        try await ledger.flush()
        #expect(try await store.usageCount() == 3)
        try await ledger.flush()
        #expect(try await store.usageCount() == 3)
    }

    @Test func anAnswerWaitsForItsRowToCommitEvenAcrossARefusedBatch() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-ledger-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try UnsteadyStore(path: directory.appendingPathComponent("fleet.sqlite").path)
        let ledger = UsageLedger(store: store, logger: Logger(label: "hearth.test.ledger"), commitsBeforeAnswersEnd: true)

        store.failNext([.refuse])
        let first = try #require(ledger.record(FleetStoreContractTests.usage("a")))
        #expect(!first.isCommitted)
        await #expect(throws: UnsteadyStore.Unavailable.self) { try await ledger.flush() }
        // Refused: the answer would still be held (for at most the wait's limit).
        #expect(!first.isCommitted)
        let waited = await first.wait(atMost: .milliseconds(1))
        #expect(!waited)

        let second = try #require(ledger.record(FleetStoreContractTests.usage("b")))
        try await ledger.flush()
        #expect(first.isCommitted && second.isCommitted)
        let now = await second.wait(atMost: .seconds(60))
        #expect(now, "a committed row releases its answer at once")
        #expect(try await store.usageCount() == 2)
        // A gateway alone hands out no commits: its answers never wait.
        #expect(UsageLedger(store: store, logger: Logger(label: "hearth.test.ledger")).record(FleetStoreContractTests.usage("c")) == nil)
    }

    @Test func aKnownKeyKeepsWorkingWhileTheStoreIsDownButNotForEver() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try UnsteadyStore(path: directory.appendingPathComponent("fleet.sqlite").path)
        let clock = ManualClock()
        let authenticator = APIKeyAuthenticator(store: store, maximumStaleness: 1, clock: clock)
        let key = APIKeyAuthenticator.generateKey()
        try await store.addAPIKey(hash: APIKeyAuthenticator.hash(key), tenant: "acme", createdAt: Date())
        #expect(try await authenticator.policy(authorization: "Bearer \(key)").tenant == "acme")

        store.readsFail.withLock { $0 = true }
        clock.advance(by: .seconds(20))
        // Past the cache's bound, the store cannot be read: the key read 20 s ago still serves.
        #expect(try await authenticator.policy(authorization: "Bearer \(key)").tenant == "acme")
        clock.advance(by: .seconds(11))
        // Past the outage grace: the store's failure is the answer.
        await #expect(throws: UnsteadyStore.Unavailable.self) { try await authenticator.policy(authorization: "Bearer \(key)") }
        // A key never read before is not let in by an outage.
        let stranger = APIKeyAuthenticator.generateKey()
        await #expect(throws: UnsteadyStore.Unavailable.self) { try await authenticator.policy(authorization: "Bearer \(stranger)") }
        store.readsFail.withLock { $0 = false }
        #expect(try await authenticator.policy(authorization: "Bearer \(key)").tenant == "acme")
    }
}
