import Foundation
import GRDB
import HearthCore

/// The gateway's identity records on SQLite (`identity.sqlite` beside the fleet store): one-time enrollment
/// tokens (hashed, each bound to one node id, a site, and whether it re-keys), operator keys (hashed), each enrolled node's attested facts and trust state, the revocation
/// list, and the append-only audit log of operator and automatic actions.
final class IdentityStore: Sendable {
    struct NodeRow: Codable, Sendable {
        var node: NodeID
        var attestation: Attestation
        var site: NodeTrustPolicy.Site
        var state: NodeTrustPolicy.TrustState
        var quarantineReason: NodeTrustPolicy.QuarantineReason?
    }

    /// What an unspent enrollment token allows.
    struct TokenGrant: Sendable, Equatable {
        var node: NodeID
        var site: NodeTrustPolicy.Site
        var rekey: Bool
    }

    struct AuditEntry: Sendable, Equatable {
        var at: Date
        var actor: String
        var action: String
        var node: String?
        var detail: String
    }

    private let database: DatabasePool

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        database = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "enrollment_token") { t in
                t.primaryKey("token_hash", .text)
                t.column("created_at", .double).notNull()
                t.column("used_at", .double)
                t.column("used_by", .text)
            }
            try db.create(table: "operator_key") { t in
                t.primaryKey("key_hash", .text)
                t.column("created_at", .double).notNull()
            }
            try db.create(table: "node_identity") { t in
                t.primaryKey("node_id", .text)
                t.column("record_json", .text).notNull()
            }
            try db.create(table: "revocation") { t in
                t.column("node_id", .text).notNull()
                t.column("key_fingerprint", .text).notNull().unique()
                t.column("reason", .text).notNull()
                t.column("at", .double).notNull()
            }
            try db.create(table: "audit") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("at", .double).notNull()
                t.column("actor", .text).notNull()
                t.column("action", .text).notNull()
                t.column("node_id", .text)
                t.column("detail", .text).notNull()
            }
            // Append-only: the log can grow, never change.
            try db.execute(
                sql: "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")
            try db.execute(
                sql: "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END")
        }
        // Tokens name their node (issue 11). Tokens made before this have none and enroll nobody.
        migrator.registerMigration("v2-token-binding") { db in
            try db.alter(table: "enrollment_token") { t in
                t.add(column: "node_id", .text)
                t.add(column: "site", .text)
                t.add(column: "rekey", .boolean).notNull().defaults(to: false)
            }
        }
        // The operator's approved and retired software measurements (staged roll-outs, issue 16).
        migrator.registerMigration("v3-measurements") { db in
            try db.create(table: "measurement_decision") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("digest", .text).notNull()
                t.column("decision", .text).notNull()
                t.column("label", .text).notNull()
                t.column("at", .double).notNull()
            }
        }
        try migrator.migrate(database)
    }

    /// The operator's decision about one software measurement.
    struct MeasurementDecision: Sendable, Equatable {
        var digest: String
        var decision: MeasurementApprovals.Decision
        /// What the digest is (a release's name), as the operator wrote it.
        var label: String
        var at: Double
    }

    func decideMeasurement(_ decision: MeasurementDecision) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO measurement_decision (digest, decision, label, at) VALUES (?, ?, ?, ?)",
                arguments: [decision.digest, decision.decision.rawValue, decision.label, decision.at])
        }
    }

    func measurementDecisions() async throws -> [MeasurementDecision] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT digest, decision, label, at FROM measurement_decision ORDER BY id").compactMap { row in
                MeasurementApprovals.Decision(rawValue: row["decision"]).map {
                    MeasurementDecision(digest: row["digest"], decision: $0, label: row["label"], at: row["at"])
                }
            }
        }
    }

    func addEnrollmentToken(hash: String, grant: TokenGrant) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO enrollment_token (token_hash, created_at, node_id, site, rekey) VALUES (?, ?, ?, ?, ?)",
                arguments: [hash, Date().timeIntervalSince1970, grant.node.rawValue, grant.site.rawValue, grant.rekey])
        }
    }

    /// What an unspent token allows; nil when unknown, used, or made before tokens named their node.
    func enrollmentToken(hash: String) async throws -> TokenGrant? {
        try await database.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT node_id, site, rekey FROM enrollment_token WHERE token_hash = ? AND used_at IS NULL", arguments: [hash]
                ),
                let node = row["node_id"] as String?, let site = NodeTrustPolicy.Site(rawValue: row["site"] ?? "")
            else { return nil }
            return TokenGrant(node: NodeID(node), site: site, rekey: row["rekey"])
        }
    }

    /// Marks the token used by `node`; false when unknown, already used (one-time) or made for another node.
    func consumeEnrollmentToken(hash: String, node: NodeID) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE enrollment_token SET used_at = ?, used_by = ? WHERE token_hash = ? AND used_at IS NULL AND node_id = ?",
                arguments: [Date().timeIntervalSince1970, node.rawValue, hash, node.rawValue])
            return db.changesCount == 1
        }
    }

    func addOperatorKey(hash: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO operator_key (key_hash, created_at) VALUES (?, ?)",
                arguments: [hash, Date().timeIntervalSince1970])
        }
    }

    /// Rotation: every earlier operator key stops working, in the same transaction that adds the new one.
    func replaceOperatorKeys(with hash: String) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM operator_key")
            try db.execute(
                sql: "INSERT INTO operator_key (key_hash, created_at) VALUES (?, ?)", arguments: [hash, Date().timeIntervalSince1970])
        }
    }

    func isOperatorKey(hash: String) async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT 1 FROM operator_key WHERE key_hash = ?", arguments: [hash]) ?? false
        }
    }

    func save(_ row: NodeRow) async throws {
        let json = String(decoding: try JSONEncoder().encode(row), as: UTF8.self)
        try await database.write { db in
            try db.execute(
                sql:
                    "INSERT INTO node_identity (node_id, record_json) VALUES (?, ?) ON CONFLICT(node_id) DO UPDATE SET record_json = excluded.record_json",
                arguments: [row.node.rawValue, json])
        }
    }

    func nodes() async throws -> [NodeRow] {
        try await database.read { db in
            try String.fetchAll(db, sql: "SELECT record_json FROM node_identity ORDER BY node_id").compactMap {
                try? JSONDecoder().decode(NodeRow.self, from: Data($0.utf8))
            }
        }
    }

    func node(_ id: NodeID) async throws -> NodeRow? {
        try await database.read { db in
            try String.fetchOne(db, sql: "SELECT record_json FROM node_identity WHERE node_id = ?", arguments: [id.rawValue]).flatMap {
                try? JSONDecoder().decode(NodeRow.self, from: Data($0.utf8))
            }
        }
    }

    func addRevocation(_ entry: RevocationEntry) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO revocation (node_id, key_fingerprint, reason, at) VALUES (?, ?, ?, ?)",
                arguments: [entry.node.rawValue, entry.keyFingerprint, entry.reason, entry.at])
        }
    }

    func revocations() async throws -> [RevocationEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM revocation").map {
                RevocationEntry(node: NodeID($0["node_id"]), keyFingerprint: $0["key_fingerprint"], reason: $0["reason"], at: $0["at"])
            }
        }
    }

    func revocations(of node: NodeID) async throws -> [RevocationEntry] {
        try await revocations().filter { $0.node == node }
    }

    func audit(actor: String, action: String, node: NodeID?, detail: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO audit (at, actor, action, node_id, detail) VALUES (?, ?, ?, ?, ?)",
                arguments: [Date().timeIntervalSince1970, actor, action, node?.rawValue, detail])
        }
    }

    func auditRowCount() async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit") ?? 0 }
    }

    func auditLog() async throws -> [AuditEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY id").map {
                AuditEntry(
                    at: Date(timeIntervalSince1970: $0["at"]), actor: $0["actor"], action: $0["action"], node: $0["node_id"],
                    detail: $0["detail"])
            }
        }
    }
}
