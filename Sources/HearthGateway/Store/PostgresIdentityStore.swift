import Foundation
import HearthCore
import Logging
import PostgresNIO

/// The identity records (``IdentityRecordStore``) in the fleet's PostgreSQL database, shared by every gateway replica.
///
/// Every write of a node's record or of a revocation notifies the `hearth_identity` channel with the node's id in the
/// same transaction, so every replica that listens (``followChanges(_:)``) takes the change at commit: a node revoked
/// or quarantined on one replica stops serving on all of them within a round trip, not at their next restart.
final class PostgresIdentityStore: IdentityRecordStore {
    static let channel = "hearth_identity"

    /// The tables, created by ``PostgresFleetStore``'s migrations (version 2).
    static let schema: [String] = [
        """
        CREATE TABLE identity_enrollment_token (
          token_hash text PRIMARY KEY, created_at double precision NOT NULL, used_at double precision, used_by text,
          node_id text NOT NULL, site text NOT NULL, rekey boolean NOT NULL DEFAULT false)
        """,
        "CREATE TABLE identity_operator_key (key_hash text PRIMARY KEY, created_at double precision NOT NULL)",
        """
        CREATE TABLE identity_node (
          node_id text PRIMARY KEY, record_json text NOT NULL, state text NOT NULL, key_fingerprint text NOT NULL)
        """,
        """
        CREATE TABLE identity_revocation (
          node_id text NOT NULL, key_fingerprint text PRIMARY KEY, reason text NOT NULL, at double precision NOT NULL)
        """,
        """
        CREATE TABLE identity_audit (
          id bigserial PRIMARY KEY, at double precision NOT NULL, actor text NOT NULL, action text NOT NULL, node_id text,
          detail text NOT NULL)
        """,
        // Append-only: the log can grow, never change, whoever connects.
        """
        CREATE FUNCTION hearth_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$
        """,
        """
        CREATE TRIGGER identity_audit_no_change BEFORE UPDATE OR DELETE ON identity_audit
        FOR EACH ROW EXECUTE FUNCTION hearth_audit_append_only()
        """,
    ]

    /// The operator's approved and retired software measurements (a later migration: staged roll-outs).
    static let measurementSchema: [String] = [
        """
        CREATE TABLE identity_measurement_decision (
          id bigserial PRIMARY KEY, digest text NOT NULL, decision text NOT NULL, label text NOT NULL,
          at double precision NOT NULL)
        """
    ]

    private let client: PostgresClient
    private let logger: Logger

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    var isShared: Bool { true }

    func addEnrollmentToken(hash: String, grant: IdentityStore.TokenGrant) async throws {
        try await client.query(
            """
            INSERT INTO identity_enrollment_token (token_hash, created_at, node_id, site, rekey)
            VALUES (\(hash), \(Date().timeIntervalSince1970), \(grant.node.rawValue), \(grant.site.rawValue), \(grant.rekey))
            """, logger: logger)
    }

    func enrollmentToken(hash: String) async throws -> IdentityStore.TokenGrant? {
        let rows = try await client.query(
            "SELECT node_id, site, rekey FROM identity_enrollment_token WHERE token_hash = \(hash) AND used_at IS NULL", logger: logger)
        for try await (node, site, rekey) in rows.decode((String, String, Bool).self) {
            guard let site = NodeTrustPolicy.Site(rawValue: site) else { return nil }
            return IdentityStore.TokenGrant(node: NodeID(node), site: site, rekey: rekey)
        }
        return nil
    }

    func consumeEnrollmentToken(hash: String, node: NodeID) async throws -> Bool {
        let rows = try await client.query(
            """
            UPDATE identity_enrollment_token SET used_at = \(Date().timeIntervalSince1970), used_by = \(node.rawValue)
            WHERE token_hash = \(hash) AND used_at IS NULL AND node_id = \(node.rawValue) RETURNING token_hash
            """, logger: logger)
        var consumed = false
        for try await _ in rows.decode(String.self) { consumed = true }
        return consumed
    }

    func addOperatorKey(hash: String) async throws {
        try await client.query(
            """
            INSERT INTO identity_operator_key (key_hash, created_at) VALUES (\(hash), \(Date().timeIntervalSince1970))
            ON CONFLICT (key_hash) DO NOTHING
            """, logger: logger)
    }

    func replaceOperatorKeys(with hash: String) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("DELETE FROM identity_operator_key", logger: logger)
            try await connection.query(
                "INSERT INTO identity_operator_key (key_hash, created_at) VALUES (\(hash), \(Date().timeIntervalSince1970))", logger: logger
            )
        }
    }

    func isOperatorKey(hash: String) async throws -> Bool {
        let rows = try await client.query("SELECT 1 FROM identity_operator_key WHERE key_hash = \(hash)", logger: logger)
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }

    /// A change's notification: the writing replica, a space, the node (node ids hold no spaces).
    private static func payload(replica: String, node: NodeID) -> String { replica + " " + node.rawValue }

    func save(_ row: IdentityStore.NodeRow, by replica: String) async throws {
        let json = String(decoding: try JSONEncoder().encode(row), as: UTF8.self)
        try await client.withTransaction(logger: logger) { connection in
            // A revocation is final for its key, whichever replica writes last: a replica that had not heard of it yet
            // (renewing the node a moment before) cannot write the record back to trusted, nor bring back a key a
            // re-key retired. Only a new, unrevoked key (the operator's re-key) replaces a revoked record.
            try await connection.query(
                """
                INSERT INTO identity_node (node_id, record_json, state, key_fingerprint)
                VALUES (\(row.node.rawValue), \(json), \(row.state.rawValue), \(row.attestation.keyFingerprint))
                ON CONFLICT (node_id) DO UPDATE
                SET record_json = EXCLUDED.record_json, state = EXCLUDED.state, key_fingerprint = EXCLUDED.key_fingerprint
                WHERE EXCLUDED.state = 'revoked'
                   OR (NOT EXISTS (SELECT 1 FROM identity_revocation r WHERE r.key_fingerprint = EXCLUDED.key_fingerprint)
                       AND (identity_node.state <> 'revoked' OR EXCLUDED.key_fingerprint <> identity_node.key_fingerprint))
                """, logger: logger)
            try await connection.query(
                "SELECT pg_notify(\(Self.channel), \(Self.payload(replica: replica, node: row.node)))", logger: logger)
        }
    }

    func nodes() async throws -> [IdentityStore.NodeRow] {
        let rows = try await client.query("SELECT record_json FROM identity_node ORDER BY node_id", logger: logger)
        var nodes: [IdentityStore.NodeRow] = []
        for try await json in rows.decode(String.self) {
            if let row = try? JSONDecoder().decode(IdentityStore.NodeRow.self, from: Data(json.utf8)) { nodes.append(row) }
        }
        return nodes
    }

    func node(_ id: NodeID) async throws -> IdentityStore.NodeRow? {
        let rows = try await client.query("SELECT record_json FROM identity_node WHERE node_id = \(id.rawValue)", logger: logger)
        for try await json in rows.decode(String.self) {
            return try? JSONDecoder().decode(IdentityStore.NodeRow.self, from: Data(json.utf8))
        }
        return nil
    }

    func addRevocation(_ entry: RevocationEntry, by replica: String) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO identity_revocation (node_id, key_fingerprint, reason, at)
                VALUES (\(entry.node.rawValue), \(entry.keyFingerprint), \(entry.reason), \(entry.at))
                ON CONFLICT (key_fingerprint) DO NOTHING
                """, logger: logger)
            try await connection.query(
                "SELECT pg_notify(\(Self.channel), \(Self.payload(replica: replica, node: entry.node)))", logger: logger)
        }
    }

    func decideMeasurement(_ decision: IdentityStore.MeasurementDecision) async throws {
        try await client.query(
            """
            INSERT INTO identity_measurement_decision (digest, decision, label, at)
            VALUES (\(decision.digest), \(decision.decision.rawValue), \(decision.label), \(decision.at))
            """, logger: logger)
    }

    func measurementDecisions() async throws -> [IdentityStore.MeasurementDecision] {
        let rows = try await client.query(
            "SELECT digest, decision, label, at FROM identity_measurement_decision ORDER BY id", logger: logger)
        var decisions: [IdentityStore.MeasurementDecision] = []
        for try await (digest, decision, label, at) in rows.decode((String, String, String, Double).self) {
            guard let decision = MeasurementApprovals.Decision(rawValue: decision) else { continue }
            decisions.append(.init(digest: digest, decision: decision, label: label, at: at))
        }
        return decisions
    }

    func revocations() async throws -> [RevocationEntry] {
        try await revocations(query: "SELECT node_id, key_fingerprint, reason, at FROM identity_revocation")
    }

    func revocations(of node: NodeID) async throws -> [RevocationEntry] {
        try await revocations(
            query: "SELECT node_id, key_fingerprint, reason, at FROM identity_revocation WHERE node_id = \(node.rawValue)")
    }

    private func revocations(query: PostgresQuery) async throws -> [RevocationEntry] {
        let rows = try await client.query(query, logger: logger)
        var entries: [RevocationEntry] = []
        for try await (node, key, reason, at) in rows.decode((String, String, String, Double).self) {
            entries.append(RevocationEntry(node: NodeID(node), keyFingerprint: key, reason: reason, at: at))
        }
        return entries
    }

    func audit(actor: String, action: String, node: NodeID?, detail: String) async throws {
        try await client.query(
            """
            INSERT INTO identity_audit (at, actor, action, node_id, detail)
            VALUES (\(Date().timeIntervalSince1970), \(actor), \(action), \(node?.rawValue), \(detail))
            """, logger: logger)
    }

    func auditRowCount() async throws -> Int {
        let rows = try await client.query("SELECT count(*) FROM identity_audit", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    func auditLog() async throws -> [IdentityStore.AuditEntry] {
        let rows = try await client.query("SELECT at, actor, action, node_id, detail FROM identity_audit ORDER BY id", logger: logger)
        var entries: [IdentityStore.AuditEntry] = []
        for try await (at, actor, action, node, detail) in rows.decode((Double, String, String, String?, String).self) {
            entries.append(
                IdentityStore.AuditEntry(at: Date(timeIntervalSince1970: at), actor: actor, action: action, node: node, detail: detail))
        }
        return entries
    }

    /// How often the listening connection is checked: a connection lost without a word (a database restarted behind a
    /// proxy, a dropped route) would otherwise leave this replica deaf to the others' revocations.
    static let listenerCheckPeriod = Duration.seconds(5)

    func followChanges(ignoring replica: String, _ changed: @escaping @Sendable (NodeID?) async -> Void) async throws {
        try await client.withConnection { connection in
            try await withThrowingTaskGroup { group in
                group.addTask {
                    try await connection.listen(on: Self.channel) { notifications in
                        // Listening now: whatever was written before is read again by the caller.
                        await changed(nil)
                        for try await notification in notifications {
                            let parts = notification.payload.split(separator: " ", maxSplits: 1)
                            guard parts.count == 2, parts[0] != replica else { continue }
                            await changed(NodeID(String(parts[1])))
                        }
                    }
                }
                group.addTask { [logger] in
                    // A query that fails or does not answer in time ends the listening, and the caller listens anew.
                    while true {
                        try await Task.sleep(for: Self.listenerCheckPeriod)
                        do {
                            try await StoreDeadline.run(within: Self.listenerCheckPeriod) {
                                _ = try await connection.query("SELECT 1", logger: logger)
                            }
                        } catch {
                            Task { try? await connection.close() }
                            throw error
                        }
                    }
                }
                // Either ends only by failing; the first failure ends both.
                _ = try await group.next()
                group.cancelAll()
            }
        }
    }
}
