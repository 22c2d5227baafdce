@preconcurrency import Crypto
public import Foundation
public import HearthCore
public import HearthIdentity
public import HearthProtocol
public import Logging
public import NIOSSL
import Synchronization
import X509

/// Settings for the fleet's identities.
public struct IdentityConfiguration: Sendable {
    /// Where the CA, the gateway's tunnel key and `identity.sqlite` live.
    public var directory: String
    /// Lifetime of node certificates (renewed at half of it): a stolen node's credentials die within it.
    public var certificateLifetime: Duration = .seconds(3600)
    /// Names and addresses nodes dial the tunnel at (the server certificate's subject alternative names).
    public var tunnelHosts: [String] = ["127.0.0.1", "localhost"]
    /// Approved software measurements (agent + engine + model digests). Empty: each node's measurement at
    /// enrollment is approved (trust on enrollment); a later change is still caught at renewal.
    public var allowedMeasurements: Set<String> = []
    /// Heartbeat interval nodes keep, seconds (the missed-heartbeat quarantine counts in these). A ``Gateway``
    /// replaces both with its tunnel's `heartbeatInterval` and `missedHeartbeatsBeforeDead` (`--heartbeat-ms`).
    public var heartbeatIntervalSeconds: Double = 1
    public var missedHeartbeatLimit = 3
    /// Refused enrollment calls, and repeated reports of one node, write at most one audit row per this many seconds
    /// (with a count of the ones folded into it): nobody but an operator can grow the append-only log at will.
    public var auditWindowSeconds: Double = 60

    public init(directory: String) {
        self.directory = directory
    }
}

/// The gateway's side of node identity: the fleet CA, enrollment with one-time tokens, renewal against fresh
/// attestations, the revocation list checked at every registration, tamper reports, and operator actions.
/// Policy is HearthCore's ``NodeTrustPolicy``; this class persists it and carries out its actions.
public final class GatewayIdentity: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case badToken
        case refused(String)

        public var description: String {
            switch self {
            case .badToken: "the enrollment token is unknown or was already used"
            case .refused(let why): why
            }
        }
    }

    /// One node as operators see it.
    public struct NodeStatus: Sendable, Codable, Equatable {
        public var id: String
        public var state: String
        public var trust: String
        public var quarantineReason: String?
        public var keyFingerprint: String
        public var site: String
        public var lastTamperAt: Double?
        /// The software measurement the node last attested (``SoftwareMeasurement/digest``).
        public var measurement: String? = nil
    }

    public let configuration: IdentityConfiguration
    public let authority: FleetCertificateAuthority
    public let serverContext: NIOSSLContext
    let store: any IdentityRecordStore
    let policy: Mutex<NodeTrustPolicy>
    /// Which software measurements nodes may run (the configured list, the operator's decisions, trust on enrollment);
    /// its ``MeasurementApprovals/allowed`` is pushed into ``policy`` on every change. Taken inside ``policy``'s lock,
    /// never the other way round.
    let approvals: Mutex<MeasurementApprovals>
    /// When another replica's measurement decisions were last read (a shared store).
    let approvalsReadAt = Mutex<Date?>(nil)
    private let expiries = Mutex<[NodeID: Date]>([:])
    private let heartbeats = Mutex<[NodeID: Date]>([:])
    private let audited = Broadcast<AuditEvent>()
    private let renewed = Broadcast<Renewal>()
    private let throttle: Mutex<AuditThrottle>

    /// An entry written to the audit log, as it happens (operators' tools and tests follow these).
    public struct AuditEvent: Sendable, Equatable {
        public var action: String
        public var node: NodeID?
        public var at: Date
    }
    private let registry = Mutex<NodeRegistry?>(nil)
    private let logger: Logger
    private let epoch = Date()
    /// This replica's name in the shared store's change notifications (it skips its own).
    private let replica = "replica-" + GatewayIdentity.randomHex(8)
    /// Trust decisions and their store writes, one at a time (with other replicas' records taken in between).
    private let decisions = AsyncSerialLock()

    private init(
        configuration: IdentityConfiguration, authority: FleetCertificateAuthority, serverContext: NIOSSLContext,
        store: any IdentityRecordStore, policy: NodeTrustPolicy, approvals: MeasurementApprovals, logger: Logger
    ) {
        self.approvals = Mutex(approvals)
        self.configuration = configuration
        self.authority = authority
        self.serverContext = serverContext
        self.store = store
        self.policy = Mutex(policy)
        self.logger = logger
        throttle = Mutex(AuditThrottle(windowSeconds: configuration.auditWindowSeconds))
    }

    /// Loads (or creates) the CA, the tunnel certificate and the stored trust records.
    ///
    /// - Parameter fleetStore: with a ``PostgresFleetStore``, the trust records live in its database, shared by every
    ///   replica on it (each follows the others' writes); otherwise in `identity.sqlite` in the configuration's folder.
    public static func open(
        configuration: IdentityConfiguration, fleetStore: (any FleetStore)? = nil, logger: Logger
    ) async throws -> GatewayIdentity {
        try FileManager.default.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
        let authority = try FleetCertificateAuthority.loadOrCreate(directory: configuration.directory)
        // The tunnel key is made fresh at every start; its certificate is what nodes verify against the CA.
        let serverKey = P256.Signing.PrivateKey()
        let serverCertificate = try authority.issueServerCertificate(key: serverKey, hosts: configuration.tunnelHosts)
        let context = try TunnelTLS.serverContext(
            certificate: serverCertificate, key: serverKey, intermediates: authority.intermediates, authority: authority.root)
        let store: any IdentityRecordStore =
            if let postgres = fleetStore as? PostgresFleetStore {
                postgres.identityRecords
            } else {
                try IdentityStore(path: configuration.directory + "/identity.sqlite")
            }
        var trust = NodeTrustPolicy(
            configuration: .init(
                heartbeatIntervalSeconds: configuration.heartbeatIntervalSeconds, missedHeartbeatLimit: configuration.missedHeartbeatLimit,
                certificates: CertificateLifetimePolicy(lifetimeSeconds: configuration.certificateLifetime.seconds),
                allowedMeasurements: configuration.allowedMeasurements),
            revocations: try await store.revocations())
        let now = Date().timeIntervalSince1970
        var approvals = MeasurementApprovals(configured: configuration.allowedMeasurements)
        approvals.replaceDecisions(try await store.measurementDecisions().map { ($0.digest, $0.decision) })
        for row in try await store.nodes() {
            guard row.state != .revoked else {
                trust.restoreRevoked(row.attestation, site: row.site, now: now)
                continue
            }
            _ = trust.handle(.enrolled(row.attestation, site: row.site), now: now)
            approvals.enrolled(row.attestation.measurement.digest)
            if row.state == .quarantined { _ = trust.handle(.operatorQuarantine(row.node), now: now) }
        }
        _ = trust.handle(.allowedMeasurementsChanged(approvals.allowed), now: now)
        return GatewayIdentity(
            configuration: configuration, authority: authority, serverContext: context, store: store, policy: trust,
            approvals: approvals, logger: logger)
    }

    /// Joins the gateway: its registry, its heartbeat settings (the missed-heartbeat quarantine counts in the
    /// gateway's `--heartbeat-ms`, not a fixed second) and the ids it treats as attested or data-centre.
    func attach(_ registry: NodeRegistry, heartbeatIntervalSeconds: Double, missedHeartbeats: Int, protectedIdentities: Set<NodeID>) {
        self.registry.withLock { $0 = registry }
        policy.withLock {
            $0.configuration.heartbeatIntervalSeconds = heartbeatIntervalSeconds
            $0.configuration.missedHeartbeatLimit = max(1, missedHeartbeats)
            $0.configuration.protectedIdentities = protectedIdentities
        }
    }

    /// Silence after which a node that said hello is quarantined (the gateway's heartbeat interval × its limit).
    public var missedHeartbeatTimeoutSeconds: Double { policy.withLock { $0.configuration.heartbeatTimeoutSeconds } }

    /// Whether `node` is an id Hearth accepts: 1-128 characters of `A-Z a-z 0-9 . _ -`.
    public static func isWellFormed(_ node: NodeID) -> Bool { NodeIdentifier.isWellFormed(node.rawValue) }

    var now: Double { Date().timeIntervalSince1970 }

    // MARK: tokens and operators

    /// A one-time enrollment token for `node` at `site` (shown once; only its hash is stored). `rekey`: the token may
    /// put a new key behind an id that exists, was revoked, or is attested/data-centre (`hearth nodes rekey`);
    /// an ordinary token enrolls only an id the gateway has never seen.
    public func createEnrollmentToken(
        for node: NodeID, site: NodeTrustPolicy.Site = .home, rekey: Bool = false, actor: String = "operator"
    ) async throws -> String {
        guard Self.isWellFormed(node) else { throw Failure.refused("node ids are 1-128 characters of [A-Za-z0-9._-]") }
        let token = "hearth-enroll-" + Self.randomHex(24)
        try await store.addEnrollmentToken(hash: Self.hash(token), grant: .init(node: node, site: site, rekey: rekey))
        try await audit(
            actor: actor, action: rekey ? "create-rekey-token" : "create-enrollment-token", node: node, detail: "site \(site.rawValue)")
        return token
    }

    /// Replaces every operator key with a new one (shown once): a leaked key stops working at once.
    public func rotateOperatorKey(actor: String) async throws -> String {
        let key = "hearth-op-" + Self.randomHex(24)
        try await store.replaceOperatorKeys(with: Self.hash(key))
        try await audit(actor: actor, action: "rotate-operator-key", node: nil, detail: "every earlier operator key revoked")
        return key
    }

    /// An operator credential for the admin API (shown once; only its hash is stored).
    public func createOperatorKey() async throws -> String {
        let key = "hearth-op-" + Self.randomHex(24)
        try await store.addOperatorKey(hash: Self.hash(key))
        return key
    }

    public func isOperator(key: String) async -> Bool {
        (try? await store.isOperatorKey(hash: Self.hash(key))) ?? false
    }

    // MARK: enrollment and renewal

    /// Enrolls a node: checks the token (made for this node id), the attestation and the CSR, and only then spends
    /// the token, records the node and returns its certificate. A refusal changes nothing but a throttled audit row.
    public func enroll(_ request: EnrollmentRequest) async throws -> CertificateGrant {
        do {
            return try await checkAndEnroll(request)
        } catch let failure as Failure {
            await auditRefusal(of: request.nodeID, failure)
            throw failure
        }
    }

    private func checkAndEnroll(_ request: EnrollmentRequest) async throws -> CertificateGrant {
        try await decisions.run { try await checkAndEnrollNow(request) }
    }

    private func checkAndEnrollNow(_ request: EnrollmentRequest) async throws -> CertificateGrant {
        let node = request.nodeID
        let tokenHash = Self.hash(request.token)
        guard let token = try await store.enrollmentToken(hash: tokenHash) else { throw Failure.badToken }
        guard token.node == node else { throw Failure.refused("the enrollment token was made for another node") }
        guard request.attestation.node == node else { throw Failure.refused("the attestation names another node") }
        let digest = request.attestation.measurement.digest
        if let refusal = approvals.withLock({ $0.enrollmentRefusal(digest) }) { throw Failure.refused(refusal) }
        // The CSR is checked (signed by its key, naming this node, P-256, the attested key) before any trust state
        // changes: the certificate is made first and handed out only if everything after it succeeds.
        let issuedAt = now
        let validity = policy.withLock { $0.configuration.certificates.validity(issuedAt: issuedAt) }
        let certificate: Certificate
        do {
            certificate = try authority.issueNodeCertificate(
                csrPEM: request.csrPEM, node: node, notBefore: Date(timeIntervalSince1970: validity.notBefore),
                notAfter: Date(timeIntervalSince1970: validity.notAfter))
        } catch let failure as FleetCertificateAuthority.Failure {
            throw Failure.refused(failure.description)
        }
        guard CertificateFacts.fingerprint(of: certificate) == request.attestation.keyFingerprint else {
            throw Failure.refused("the CSR's key is not the attested key")
        }
        if let refusal = policy.withLock({ $0.enrollmentRefusal(for: request.attestation, rekey: token.rekey) }) {
            throw Failure.refused(Self.explain(refusal, node: node))
        }
        guard try await store.consumeEnrollmentToken(hash: tokenHash, node: node) else { throw Failure.badToken }
        let actions = policy.withLock { policy -> [NodeTrustPolicy.Action] in
            // Asked again under the lock: another token for the same id may have been spent meanwhile.
            if let refusal = policy.enrollmentRefusal(for: request.attestation, rekey: token.rekey) {
                return [.refuseEnrollment(node, refusal)]
            }
            let allowed = approvals.withLock { approvals in
                approvals.enrolled(digest)
                return approvals.allowed
            }
            _ = policy.handle(.allowedMeasurementsChanged(allowed), now: issuedAt)
            return policy.handle(.enrollmentRequested(request.attestation, site: token.site, rekey: token.rekey), now: issuedAt)
        }
        if case .refuseEnrollment(_, let refusal) = actions.first { throw Failure.refused(Self.explain(refusal, node: node)) }
        _ = try await perform(actions, csrPEM: nil, node: node, keyFingerprint: nil)
        try await store.save(
            .init(node: node, attestation: request.attestation, site: token.site, state: .trusted, quarantineReason: nil), by: replica)
        try await audit(
            actor: "node", action: token.rekey ? "re-keyed" : "enrolled", node: node,
            detail: "key \(request.attestation.keyFingerprint.prefix(16)) site \(token.site.rawValue)")
        return CertificateGrant(
            certificatePEM: try authority.chainPEM(for: certificate), authorityPEM: try authority.rootPEM(),
            notAfter: validity.notAfter)
    }

    private static func explain(_ refusal: NodeTrustPolicy.EnrollmentRefusal, node: NodeID) -> String {
        switch refusal {
        case .alreadyEnrolled: "node \(node) is enrolled already; a new key needs the operator's re-key (hearth nodes rekey \(node))"
        case .revokedNode: "node \(node) is revoked; only the operator's re-key (hearth nodes rekey \(node)) brings it back"
        case .protectedIdentity: "node \(node) is attested or data-centre; enrolling it needs a re-key token (hearth nodes rekey \(node))"
        case .revokedKey: "this key is revoked"
        }
    }

    /// One audit row per window for all refused enrollment calls together (their node ids are the caller's choice).
    private func auditRefusal(of node: NodeID, _ failure: Failure) async {
        let named = Self.isWellFormed(node) ? node : nil
        await auditThrottled(key: "enrollment-refused", actor: "node", action: "enrollment-refused", node: named, detail: "\(failure)")
    }

    private func auditThrottled(key: String, actor: String, action: String, node: NodeID?, detail: String) async {
        let at = now
        guard let folded = throttle.withLock({ $0.record(key, now: at) }) else { return }
        let more = folded > 0 ? " (+\(folded) more since the previous entry)" : ""
        try? await audit(actor: actor, action: action, node: node, detail: String(detail.prefix(256)) + more)
    }

    /// A renewal over the node's tunnel: a fresh attestation decides.
    func renew(_ request: RenewalRequest, from node: NodeID) async -> RenewalResponse {
        let response = await decisions.run { await renewNow(request, from: node) }
        renewed.yield(Renewal(node: node, measurement: request.attestation.measurement.digest, denied: response.denied))
        return response
    }

    /// A renewal as it was decided: the node, the measurement it attested, and why it was denied (nil: granted).
    public struct Renewal: Sendable, Equatable {
        public var node: NodeID
        public var measurement: String
        public var denied: String?
    }

    /// Renewals from now on, granted and denied (operators' tools and tests follow them).
    public func renewals() -> AsyncStream<Renewal> { renewed.subscribe() }

    private func renewNow(_ request: RenewalRequest, from node: NodeID) async -> RenewalResponse {
        guard request.attestation.node == node else { return RenewalResponse(grant: nil, denied: "the attestation names another node") }
        let actions = policy.withLock { $0.handle(.renewalRequested(request.attestation), now: now) }
        do {
            let grant = try await perform(actions, csrPEM: request.csrPEM, node: node, keyFingerprint: request.attestation.keyFingerprint)
            if let grant {
                await persist(node, attestation: request.attestation)
                // Renewed over this authenticated tunnel with a fresh attestation: the live connection may run until
                // the new certificate's end instead of being cut at the old one's (and failing its streams over).
                expiries.withLock { $0[node] = Date(timeIntervalSince1970: grant.notAfter) }
                return RenewalResponse(grant: grant, denied: nil)
            }
        } catch {
            return RenewalResponse(grant: nil, denied: "\(error)")
        }
        let reason = actions.compactMap { action -> String? in
            if case .denyRenewal(_, let why) = action { return why.rawValue }
            return nil
        }.first
        return RenewalResponse(grant: nil, denied: reason ?? "denied")
    }

    // MARK: the tunnel

    /// Checks a registering node's client certificate: it must name the node it claims to be, belong to an
    /// enrolled node whose key is not revoked, and the node must not be revoked.
    func admit(peer: Certificate?, claimed node: NodeID) throws {
        guard let peer else {
            throw TunnelErrorMessage(code: .notRegistered, message: "a client certificate from the fleet CA is required")
        }
        guard CertificateFacts.node(of: peer) == node else {
            throw TunnelErrorMessage(code: .notRegistered, message: "the certificate names another node than \(node)")
        }
        let fingerprint = CertificateFacts.fingerprint(of: peer)
        try policy.withLock { policy in
            if policy.state(of: node) == .revoked {
                throw TunnelErrorMessage(code: .notRegistered, message: "node \(node) is revoked; re-enrollment needs an operator")
            }
            if policy.isRevoked(keyFingerprint: fingerprint) {
                throw TunnelErrorMessage(
                    code: .notRegistered,
                    message: "this key of node \(node) was revoked (re-keyed or revoked); enroll again with a re-key token")
            }
            guard let record = policy.nodes[node], record.keyFingerprint == fingerprint else {
                throw TunnelErrorMessage(code: .notRegistered, message: "node \(node) is not enrolled with this key")
            }
        }
        expiries.withLock { $0[node] = peer.notValidAfter }
        // The missed-heartbeat clock starts now, not at enrollment or the gateway's start.
        _ = policy.withLock { $0.handle(.hello(node), now: now) }
    }

    /// The labels the scheduler should carry for `node` (trust state, last tamper).
    func labels(for node: NodeID) -> [String: String] {
        policy.withLock { $0.labels(for: node) }
    }

    func isTrusted(_ node: NodeID) -> Bool { policy.withLock { $0.state(of: node) == .trusted } }

    func heartbeat(from node: NodeID) {
        heartbeats.withLock { $0[node] = Date() }
        _ = policy.withLock { $0.handle(.heartbeat(node), now: now) }
    }

    public func lastHeartbeat(of node: NodeID) -> Date? { heartbeats.withLock { $0[node] } }

    func tamperReport(_ report: TamperReport, from node: NodeID) async {
        await decisions.run { await tamperReportNow(report, from: node) }
    }

    private func tamperReportNow(_ report: TamperReport, from node: NodeID) async {
        logger.warning("tamper report", metadata: ["node": "\(node)", "findings": "\(report.findings.map(\.rawValue))"])
        let actions = policy.withLock { $0.handle(.tamperReport(node, report), now: now) }
        await auditThrottled(
            key: "tamper-report:\(node)", actor: "node", action: "tamper-report", node: node,
            detail: "\(report.findings.map(\.rawValue).joined(separator: ",")) quarantined=\(report.quarantined)")
        _ = try? await perform(actions, csrPEM: nil, node: node, keyFingerprint: nil)
    }

    /// Missed heartbeats and expired credentials: quarantine silent nodes, close tunnels whose certificate ended.
    func tick() async {
        await decisions.run { await tickNow() }
    }

    private func tickNow() async {
        await readOtherReplicasMeasurementDecisions()
        let actions = policy.withLock { $0.handle(.tick, now: now) }
        _ = try? await perform(actions, csrPEM: nil, node: nil, keyFingerprint: nil)
        let expired = expiries.withLock { expiries in expiries.filter { $0.value < Date() }.map(\.key) }
        for node in expired {
            logger.notice("closing a tunnel whose certificate expired", metadata: ["node": "\(node)"])
            expiries.withLock { _ = $0.removeValue(forKey: node) }
            try? await registry.withLock { $0 }?.session(node)?.channel.close()
        }
    }

    // MARK: replicas

    /// Follows the other replicas' writes to a shared store (PostgreSQL) for the gateway's life: the record of each
    /// node one of them changed is read again and taken as stored, and the node's tunnel here closes when it may no
    /// longer serve. After a lost connection to the store, every record is read again. Returns at once for a store
    /// only this gateway writes.
    func followOtherReplicas() async {
        guard store.isShared else { return }
        while !Task.isCancelled {
            do {
                try await store.followChanges(ignoring: replica) { [self] node in await takeStoredRecords(of: node) }
            } catch {
                if Task.isCancelled { return }
                logger.warning("lost the shared identity store's notifications; listening again", metadata: ["error": "\(error)"])
            }
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
        }
    }

    /// Reads `node`'s record and revocations (every node's when nil) and takes them as another replica wrote them.
    func takeStoredRecords(of node: NodeID?) async {
        await decisions.run { await takeStoredRecordsNow(of: node) }
    }

    private func takeStoredRecordsNow(of node: NodeID?) async {
        do {
            let revocations: [RevocationEntry]
            let rows: [IdentityStore.NodeRow]
            if let node {
                revocations = try await store.revocations(of: node)
                rows = try await store.node(node).map { [$0] } ?? []
            } else {
                revocations = try await store.revocations()
                rows = try await store.nodes()
            }
            let at = now
            let actions = policy.withLock { policy in
                var actions = policy.handle(.replicatedRevocations(revocations), now: at)
                for row in rows {
                    // Trust on enrollment, as at start: a node another replica enrolled runs the software it attested.
                    if row.state != .revoked {
                        let allowed = approvals.withLock { approvals in
                            approvals.enrolled(row.attestation.measurement.digest)
                            return approvals.allowed
                        }
                        _ = policy.handle(.allowedMeasurementsChanged(allowed), now: at)
                    }
                    actions += policy.handle(
                        .replicated(row.attestation, site: row.site, state: row.state, quarantineReason: row.quarantineReason), now: at)
                }
                return actions
            }
            if !actions.isEmpty {
                logger.notice("took another replica's identity records", metadata: ["node": "\(node.map(\.rawValue) ?? "all")"])
            }
            _ = try await perform(actions, csrPEM: nil, node: node, keyFingerprint: nil)
        } catch {
            logger.warning("could not read the shared identity records", metadata: ["error": "\(error)"])
        }
    }

    // MARK: operators

    public enum OperatorAction: String, Sendable, CaseIterable {
        case revoke, quarantine, release
    }

    public func operatorAction(_ action: OperatorAction, node: NodeID, reason: String, actor: String) async throws {
        try await decisions.run { try await operatorActionNow(action, node: node, reason: reason, actor: actor) }
    }

    private func operatorActionNow(_ action: OperatorAction, node: NodeID, reason: String, actor: String) async throws {
        let event: NodeTrustPolicy.Event =
            switch action {
            case .revoke: .operatorRevoke(node, reason: reason)
            case .quarantine: .operatorQuarantine(node)
            case .release: .operatorRelease(node)
            }
        let known = policy.withLock { $0.nodes[node] != nil }
        guard known else { throw Failure.refused("no enrolled node \(node)") }
        let actions = policy.withLock { $0.handle(event, now: now) }
        try await audit(actor: actor, action: action.rawValue, node: node, detail: reason)
        _ = try await perform(actions, csrPEM: nil, node: node, keyFingerprint: nil)
        await persistState(node)
    }

    /// The gateway caught `node` lying past its conduct threshold (``NodeConduct``): quarantine it, audited with
    /// `detail`, until an operator releases it.
    public func misbehaved(_ node: NodeID, detail: String) async {
        await decisions.run { await misbehavedNow(node, detail: detail) }
    }

    private func misbehavedNow(_ node: NodeID, detail: String) async {
        let actions = policy.withLock { $0.handle(.misbehaved(node), now: now) }
        guard !actions.isEmpty else { return }
        try? await audit(actor: "gateway", action: "misbehaviour", node: node, detail: detail)
        _ = try? await perform(actions, csrPEM: nil, node: node, keyFingerprint: nil)
        await persistState(node)
    }

    /// Every enrolled node with its trust state; `connected` lists the nodes whose tunnel is up.
    public func statuses(connected: Set<NodeID>) -> [NodeStatus] {
        policy.withLock { policy in
            policy.nodes.sorted { $0.key < $1.key }.map { id, record in
                let state: String =
                    switch record.state {
                    case .revoked: "revoked"
                    case .quarantined: "quarantined"
                    case .trusted: connected.contains(id) ? "connected" : "disconnected"
                    }
                return NodeStatus(
                    id: id.rawValue, state: state, trust: record.state.rawValue, quarantineReason: record.quarantineReason?.rawValue,
                    keyFingerprint: record.keyFingerprint, site: record.site.rawValue, lastTamperAt: record.lastTamperAt,
                    measurement: record.measurement.digest)
            }
        }
    }

    /// Audit events from now on.
    public func auditEvents() -> AsyncStream<AuditEvent> { audited.subscribe() }

    func audit(actor: String, action: String, node: NodeID?, detail: String) async throws {
        try await store.audit(actor: actor, action: action, node: node, detail: detail)
        audited.yield(AuditEvent(action: action, node: node, at: Date()))
    }

    /// Rows in the audit log.
    public func auditLogCount() async throws -> Int { try await store.auditRowCount() }

    public func auditLog() async throws -> [(at: Date, actor: String, action: String, node: String?, detail: String)] {
        try await store.auditLog().map { ($0.at, $0.actor, $0.action, $0.node, $0.detail) }
    }

    // MARK: actions

    /// Carries out the policy's actions; returns the certificate when one was issued.
    private func perform(
        _ actions: [NodeTrustPolicy.Action], csrPEM: String?, node: NodeID?, keyFingerprint: String?
    ) async throws -> CertificateGrant? {
        var grant: CertificateGrant?
        let registry = self.registry.withLock { $0 }
        for action in actions {
            switch action {
            case .issueCertificate(let id, let notBefore, let notAfter):
                guard let csrPEM else { continue }
                let certificate = try authority.issueNodeCertificate(
                    csrPEM: csrPEM, node: id, notBefore: Date(timeIntervalSince1970: notBefore),
                    notAfter: Date(timeIntervalSince1970: notAfter))
                guard keyFingerprint == nil || CertificateFacts.fingerprint(of: certificate) == keyFingerprint else {
                    throw Failure.refused("the CSR's key is not the attested key")
                }
                grant = CertificateGrant(certificatePEM: try authority.chainPEM(for: certificate), authorityPEM: nil, notAfter: notAfter)
            case .denyRenewal(let id, let reason):
                logger.warning("renewal denied", metadata: ["node": "\(id)", "reason": "\(reason.rawValue)"])
                await auditThrottled(key: "deny-renewal:\(id)", actor: "gateway", action: "deny-renewal", node: id, detail: reason.rawValue)
            case .quarantine(let id, let reason):
                logger.warning("node quarantined", metadata: ["node": "\(id)", "reason": "\(reason.rawValue)"])
                registry?.scheduler.setTrusted(id, false)
                try? await audit(actor: "gateway", action: "quarantine", node: id, detail: reason.rawValue)
                await persistState(id)
            case .revoke(let entry):
                logger.critical("node revoked", metadata: ["node": "\(entry.node)", "reason": "\(entry.reason)"])
                try await store.addRevocation(entry, by: replica)
                registry?.scheduler.setTrusted(entry.node, false)
                try? await audit(actor: "gateway", action: "revoke", node: entry.node, detail: entry.reason)
                await persistState(entry.node)
            case .closeTunnel(let id), .failOverInFlight(let id):
                // Closing the tunnel fails the node's streams, and the relay resumes each on another node.
                try? await registry?.session(id)?.channel.close()
            case .retireKey(let entry):
                try await store.addRevocation(entry, by: replica)
                try? await audit(actor: "gateway", action: "retire-key", node: entry.node, detail: "key \(entry.keyFingerprint.prefix(16))")
            case .refuseEnrollment:
                break
            case .alert(let alert):
                logger.log(level: alert.level == .critical ? .critical : .warning, "\(alert.message)", metadata: ["node": "\(alert.node)"])
            case .updateLabels(let id, let labels):
                applyLabels(labels, to: id)
            }
        }
        _ = node
        return grant
    }

    /// Puts the trust labels on the scheduler's view of `node`, with times moved to the scheduler's clock.
    func applyLabels(_ labels: [String: String], to node: NodeID) {
        guard let scheduler = registry.withLock({ $0 })?.scheduler else { return }
        var labels = labels
        if let text = labels[SecurityLabels.lastTamperAt], let unix = Double(text) {
            labels[SecurityLabels.lastTamperAt] = String(scheduler.now - (now - unix))
        }
        scheduler.updateLabels(node, labels)
        scheduler.setTrusted(node, labels[SecurityLabels.trustState] == NodeTrustPolicy.TrustState.trusted.rawValue)
    }

    private func persist(_ node: NodeID, attestation: Attestation) async {
        let row = policy.withLock { policy -> IdentityStore.NodeRow? in
            guard let record = policy.nodes[node] else { return nil }
            return .init(
                node: node, attestation: attestation, site: record.site, state: record.state, quarantineReason: record.quarantineReason)
        }
        if let row { try? await store.save(row, by: replica) }
    }

    private func persistState(_ node: NodeID) async {
        guard let existing = try? await store.node(node) else { return }
        let updated = policy.withLock { policy -> IdentityStore.NodeRow in
            var row = existing
            row.state = policy.nodes[node]?.state ?? row.state
            row.quarantineReason = policy.nodes[node]?.quarantineReason
            return row
        }
        try? await store.save(updated, by: replica)
    }

    static func hash(_ secret: String) -> String {
        Hex.encode(SHA256.hash(data: Array(secret.utf8)))
    }

    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.random(bytes: bytes, using: &generator)
    }
}
