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
    /// Heartbeat interval nodes keep, seconds (the missed-heartbeat quarantine counts in these).
    public var heartbeatIntervalSeconds: Double = 1
    public var missedHeartbeatLimit = 3

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
    }

    public let configuration: IdentityConfiguration
    public let authority: FleetCertificateAuthority
    public let serverContext: NIOSSLContext
    private let store: IdentityStore
    private let policy: Mutex<NodeTrustPolicy>
    private let expiries = Mutex<[NodeID: Date]>([:])
    private let heartbeats = Mutex<[NodeID: Date]>([:])
    private let audited = Broadcast<AuditEvent>()

    /// An entry written to the audit log, as it happens (operators' tools and tests follow these).
    public struct AuditEvent: Sendable, Equatable {
        public var action: String
        public var node: NodeID?
        public var at: Date
    }
    private let registry = Mutex<NodeRegistry?>(nil)
    private let logger: Logger
    private let epoch = Date()

    private init(
        configuration: IdentityConfiguration, authority: FleetCertificateAuthority, serverContext: NIOSSLContext, store: IdentityStore,
        policy: NodeTrustPolicy, logger: Logger
    ) {
        self.configuration = configuration
        self.authority = authority
        self.serverContext = serverContext
        self.store = store
        self.policy = Mutex(policy)
        self.logger = logger
    }

    /// Loads (or creates) the CA, the tunnel certificate and the stored trust records.
    public static func open(configuration: IdentityConfiguration, logger: Logger) async throws -> GatewayIdentity {
        try FileManager.default.createDirectory(atPath: configuration.directory, withIntermediateDirectories: true)
        let authority = try FleetCertificateAuthority.loadOrCreate(directory: configuration.directory)
        // The tunnel key is made fresh at every start; its certificate is what nodes verify against the CA.
        let serverKey = P256.Signing.PrivateKey()
        let serverCertificate = try authority.issueServerCertificate(key: serverKey, hosts: configuration.tunnelHosts)
        let context = try TunnelTLS.serverContext(certificate: serverCertificate, key: serverKey, authority: authority.certificate)
        let store = try IdentityStore(path: configuration.directory + "/identity.sqlite")
        var trust = NodeTrustPolicy(
            configuration: .init(
                heartbeatIntervalSeconds: configuration.heartbeatIntervalSeconds, missedHeartbeatLimit: configuration.missedHeartbeatLimit,
                certificates: CertificateLifetimePolicy(lifetimeSeconds: configuration.certificateLifetime.seconds),
                allowedMeasurements: configuration.allowedMeasurements),
            revocations: try await store.revocations())
        let now = Date().timeIntervalSince1970
        var allowed = configuration.allowedMeasurements
        for row in try await store.nodes() {
            guard row.state != .revoked else {
                trust.restoreRevoked(row.attestation, site: row.site, now: now)
                continue
            }
            _ = trust.handle(.enrolled(row.attestation, site: row.site), now: now)
            if configuration.allowedMeasurements.isEmpty { allowed.insert(row.attestation.measurement.digest) }
            if row.state == .quarantined { _ = trust.handle(.operatorQuarantine(row.node), now: now) }
        }
        _ = trust.handle(.allowedMeasurementsChanged(allowed), now: now)
        return GatewayIdentity(
            configuration: configuration, authority: authority, serverContext: context, store: store, policy: trust, logger: logger)
    }

    func attach(_ registry: NodeRegistry) { self.registry.withLock { $0 = registry } }

    private var now: Double { Date().timeIntervalSince1970 }

    // MARK: tokens and operators

    /// A one-time enrollment token (shown once; only its hash is stored).
    public func createEnrollmentToken(actor: String = "operator") async throws -> String {
        let token = "hearth-enroll-" + Self.randomHex(24)
        try await store.addEnrollmentToken(hash: Self.hash(token))
        try await audit(actor: actor, action: "create-enrollment-token", node: nil, detail: "")
        return token
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

    /// Enrolls a node: spends the token, records its attestation, and signs its CSR.
    public func enroll(_ request: EnrollmentRequest, site: NodeTrustPolicy.Site = .home) async throws -> CertificateGrant {
        guard try await store.consumeEnrollmentToken(hash: Self.hash(request.token), node: request.nodeID) else {
            try? await audit(actor: "node", action: "enrollment-refused", node: request.nodeID, detail: "bad token")
            throw Failure.badToken
        }
        guard request.attestation.node == request.nodeID else { throw Failure.refused("the attestation names another node") }
        if !configuration.allowedMeasurements.isEmpty, !configuration.allowedMeasurements.contains(request.attestation.measurement.digest) {
            throw Failure.refused("software measurement \(request.attestation.measurement.digest) is not approved")
        }
        let (actions, allowed) = policy.withLock { policy -> ([NodeTrustPolicy.Action], Set<String>) in
            var allowed = policy.configuration.allowedMeasurements
            if configuration.allowedMeasurements.isEmpty { allowed.insert(request.attestation.measurement.digest) }
            _ = policy.handle(.allowedMeasurementsChanged(allowed), now: now)
            return (policy.handle(.enrolled(request.attestation, site: site), now: now), allowed)
        }
        _ = allowed
        let grant = try await perform(
            actions, csrPEM: request.csrPEM, node: request.nodeID, keyFingerprint: request.attestation.keyFingerprint)
        guard let grant else { throw Failure.refused("enrollment denied (revoked key)") }
        try await store.save(
            .init(node: request.nodeID, attestation: request.attestation, site: site, state: .trusted, quarantineReason: nil))
        try await audit(
            actor: "node", action: "enrolled", node: request.nodeID, detail: "key \(request.attestation.keyFingerprint.prefix(16))")
        return CertificateGrant(
            certificatePEM: grant.certificatePEM, authorityPEM: try authority.certificatePEM(), notAfter: grant.notAfter)
    }

    /// A renewal over the node's tunnel: a fresh attestation decides.
    func renew(_ request: RenewalRequest, from node: NodeID) async -> RenewalResponse {
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
            if policy.isRevoked(keyFingerprint: fingerprint) || policy.state(of: node) == .revoked {
                throw TunnelErrorMessage(code: .notRegistered, message: "node \(node) is revoked; re-enrollment needs an operator")
            }
            guard let record = policy.nodes[node], record.keyFingerprint == fingerprint else {
                throw TunnelErrorMessage(code: .notRegistered, message: "node \(node) is not enrolled with this key")
            }
        }
        expiries.withLock { $0[node] = peer.notValidAfter }
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
        logger.warning("tamper report", metadata: ["node": "\(node)", "findings": "\(report.findings.map(\.rawValue))"])
        let actions = policy.withLock { $0.handle(.tamperReport(node, report), now: now) }
        try? await audit(
            actor: "node", action: "tamper-report", node: node,
            detail: "\(report.findings.map(\.rawValue).joined(separator: ",")) quarantined=\(report.quarantined)")
        _ = try? await perform(actions, csrPEM: nil, node: node, keyFingerprint: nil)
    }

    /// Missed heartbeats and expired credentials: quarantine silent nodes, close tunnels whose certificate ended.
    func tick() async {
        let actions = policy.withLock { $0.handle(.tick, now: now) }
        _ = try? await perform(actions, csrPEM: nil, node: nil, keyFingerprint: nil)
        let expired = expiries.withLock { expiries in expiries.filter { $0.value < Date() }.map(\.key) }
        for node in expired {
            logger.notice("closing a tunnel whose certificate expired", metadata: ["node": "\(node)"])
            expiries.withLock { _ = $0.removeValue(forKey: node) }
            try? await registry.withLock { $0 }?.session(node)?.channel.close()
        }
    }

    // MARK: operators

    public enum OperatorAction: String, Sendable, CaseIterable {
        case revoke, quarantine, release
    }

    public func operatorAction(_ action: OperatorAction, node: NodeID, reason: String, actor: String) async throws {
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

    /// Every enrolled node with its trust state; `connected` lists the nodes whose tunnel is up.
    public func statuses(connected: Set<NodeID>) -> [NodeStatus] {
        policy.withLock { policy in
            policy.nodes.keys.sorted().map { id in
                let record = policy.nodes[id]!
                let state: String =
                    switch record.state {
                    case .revoked: "revoked"
                    case .quarantined: "quarantined"
                    case .trusted: connected.contains(id) ? "connected" : "disconnected"
                    }
                return NodeStatus(
                    id: id.rawValue, state: state, trust: record.state.rawValue, quarantineReason: record.quarantineReason?.rawValue,
                    keyFingerprint: record.keyFingerprint, site: record.site.rawValue, lastTamperAt: record.lastTamperAt)
            }
        }
    }

    /// Audit events from now on.
    public func auditEvents() -> AsyncStream<AuditEvent> { audited.subscribe() }

    private func audit(actor: String, action: String, node: NodeID?, detail: String) async throws {
        try await store.audit(actor: actor, action: action, node: node, detail: detail)
        audited.yield(AuditEvent(action: action, node: node, at: Date()))
    }

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
                grant = CertificateGrant(certificatePEM: try certificate.serializeAsPEM().pemString, authorityPEM: nil, notAfter: notAfter)
            case .denyRenewal(let id, let reason):
                logger.warning("renewal denied", metadata: ["node": "\(id)", "reason": "\(reason.rawValue)"])
                try? await audit(actor: "gateway", action: "deny-renewal", node: id, detail: reason.rawValue)
            case .quarantine(let id, let reason):
                logger.warning("node quarantined", metadata: ["node": "\(id)", "reason": "\(reason.rawValue)"])
                registry?.scheduler.setTrusted(id, false)
                try? await audit(actor: "gateway", action: "quarantine", node: id, detail: reason.rawValue)
                await persistState(id)
            case .revoke(let entry):
                logger.critical("node revoked", metadata: ["node": "\(entry.node)", "reason": "\(entry.reason)"])
                try await store.addRevocation(entry)
                registry?.scheduler.setTrusted(entry.node, false)
                try? await audit(actor: "gateway", action: "revoke", node: entry.node, detail: entry.reason)
                await persistState(entry.node)
            case .closeTunnel(let id), .failOverInFlight(let id):
                // Closing the tunnel fails the node's streams, and the relay resumes each on another node.
                try? await registry?.session(id)?.channel.close()
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
        if let row { try? await store.save(row) }
    }

    private func persistState(_ node: NodeID) async {
        guard let existing = try? await store.nodes().first(where: { $0.node == node }) else { return }
        let updated = policy.withLock { policy -> IdentityStore.NodeRow in
            var row = existing
            row.state = policy.nodes[node]?.state ?? row.state
            row.quarantineReason = policy.nodes[node]?.quarantineReason
            return row
        }
        try? await store.save(updated)
    }

    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Array(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
