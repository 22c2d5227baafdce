import HearthCore

/// Where a gateway keeps its identity records: enrollment tokens, operator keys, each enrolled node's attested facts
/// and trust state, the revocation list and the append-only audit log. ``IdentityStore`` (SQLite beside the CA) for a
/// single gateway; ``PostgresIdentityStore`` in the fleet's PostgreSQL database for replicas that share one fleet.
protocol IdentityRecordStore: Sendable {
    func addEnrollmentToken(hash: String, grant: IdentityStore.TokenGrant) async throws
    /// What an unspent token allows; nil when unknown, used, or made before tokens named their node.
    func enrollmentToken(hash: String) async throws -> IdentityStore.TokenGrant?
    /// Marks the token used by `node`; false when unknown, already used (one-time) or made for another node.
    func consumeEnrollmentToken(hash: String, node: NodeID) async throws -> Bool
    func addOperatorKey(hash: String) async throws
    /// Rotation: every earlier operator key stops working, in the same transaction that adds the new one.
    func replaceOperatorKeys(with hash: String) async throws
    func isOperatorKey(hash: String) async throws -> Bool
    /// `replica`: the writer, named in the change notification so that it can tell its own writes from others'.
    func save(_ row: IdentityStore.NodeRow, by replica: String) async throws
    func nodes() async throws -> [IdentityStore.NodeRow]
    func node(_ id: NodeID) async throws -> IdentityStore.NodeRow?
    func addRevocation(_ entry: RevocationEntry, by replica: String) async throws
    func revocations() async throws -> [RevocationEntry]
    func revocations(of node: NodeID) async throws -> [RevocationEntry]
    func audit(actor: String, action: String, node: NodeID?, detail: String) async throws
    func auditRowCount() async throws -> Int
    func auditLog() async throws -> [IdentityStore.AuditEntry]
    /// Records the operator's decision about a software measurement (the latest about a digest holds).
    func decideMeasurement(_ decision: IdentityStore.MeasurementDecision) async throws
    /// Every measurement decision, oldest first.
    func measurementDecisions() async throws -> [IdentityStore.MeasurementDecision]

    /// Whether other gateway replicas write these records too (then ``followChanges(_:)`` reports their writes).
    var isShared: Bool { get }

    /// Runs until cancelled or the store's connection fails, calling `changed` with every node whose record or
    /// revocations another replica than `replica` wrote, and with nil first, since writes made before it began
    /// listening are unknown: the caller reads everything again. A replica's own writes are not reported: it acted
    /// on them already, and reading one back could race its next write. Returns at once for a store no other
    /// replica writes.
    func followChanges(ignoring replica: String, _ changed: @escaping @Sendable (NodeID?) async -> Void) async throws
}

extension IdentityStore: IdentityRecordStore {
    var isShared: Bool { false }
    func save(_ row: NodeRow, by replica: String) async throws { try await save(row) }
    func addRevocation(_ entry: RevocationEntry, by replica: String) async throws { try await addRevocation(entry) }
    func followChanges(ignoring replica: String, _ changed: @escaping @Sendable (NodeID?) async -> Void) async throws {}
}
