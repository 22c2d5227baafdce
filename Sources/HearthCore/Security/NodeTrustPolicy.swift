/// The gateway's trust decisions for its whole fleet: a value-type state machine
/// (`mutating func handle(_:now:) -> [Action]`) that the gateway keeps behind a lock and whose actions its
/// shell performs (certificate authority, tunnel registry, fleet store, alerting).
///
/// - Enrollment (operator-approved token) records a node's key, hardware and measurement. A token names one node;
///   ``Event/enrollmentRequested(_:site:rekey:)`` refuses an id that is already known (in any state, revoked
///   included) or that the operator marked attested or data-centre (``Configuration/protectedIdentities``) unless the
///   operator re-keyed it; a re-key retires the old key for good (``Action/retireKey(_:)``).
/// - A tamper report with `quarantined: true` or a critical finding revokes the node in the same call:
///   ``Action/revoke(_:)``, ``Action/closeTunnel(_:)``, ``Action/failOverInFlight(_:)``, ``Action/alert(_:)``.
///   A strong finding alone is recorded as a tamper event (``SecurityLabels/lastTamperAt``) with a warning.
/// - ``Event/tick`` (call it at least once per heartbeat interval) quarantines every trusted node whose last
///   heartbeat is older than `missedHeartbeatLimit × heartbeatIntervalSeconds`; it stays quarantined until it
///   re-attests successfully (``Event/renewalRequested(_:)``). The clock starts at the node's first hello
///   (``Event/hello(_:)``) after its enrollment or the gateway's start: a node still starting is not silent.
/// - Renewal: unknown, revoked or other-key → deny; other hardware → quarantine (and deny); stale attestation →
///   deny (retry with a fresh one); measurement outside the allowed set → quarantine (not renewed); otherwise
///   renew with a fresh validity window from ``CertificateLifetimePolicy``.
/// - Quarantine for a measurement, hardware or operator reason is lifted only by ``Event/operatorRelease(_:)``;
///   revocation is permanent for that key.
///
/// Every change of a node's security labels is emitted as ``Action/updateLabels(_:_:)``; apply it with
/// `FleetState.upsert` so the scheduler's ``NodeTrustFilter`` and ``DataClassFilter`` see it.
public struct NodeTrustPolicy: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var heartbeatIntervalSeconds: Double
        /// Heartbeats a node may miss before it is quarantined. Default 3.
        public var missedHeartbeatLimit: Int
        public var certificates: CertificateLifetimePolicy
        /// Oldest attestation accepted at renewal. Default 300 s.
        public var attestationMaxAgeSeconds: Double
        /// Allowed ``SoftwareMeasurement/digest`` values (agent + engine + model builds the operator approved).
        public var allowedMeasurements: Set<String>
        /// Node ids the operator vouches for elsewhere (attested, data-centre): even their first enrollment needs a
        /// re-key, so that an ordinary token can never put a new key behind an id that confidential work follows.
        public var protectedIdentities: Set<NodeID> = []

        public init(
            heartbeatIntervalSeconds: Double = 5, missedHeartbeatLimit: Int = 3,
            certificates: CertificateLifetimePolicy = CertificateLifetimePolicy(),
            attestationMaxAgeSeconds: Double = 300, allowedMeasurements: Set<String> = []
        ) {
            self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
            self.missedHeartbeatLimit = max(1, missedHeartbeatLimit)
            self.certificates = certificates
            self.attestationMaxAgeSeconds = attestationMaxAgeSeconds
            self.allowedMeasurements = allowedMeasurements
        }

        /// Silence after which a node is quarantined.
        public var heartbeatTimeoutSeconds: Double { Double(missedHeartbeatLimit) * heartbeatIntervalSeconds }
    }

    public enum TrustState: String, Sendable, Hashable, Codable {
        case trusted
        case quarantined
        case revoked
    }

    public enum QuarantineReason: String, Sendable, Hashable, Codable {
        case missedHeartbeats = "missed-heartbeats"
        case measurementChanged = "measurement-changed"
        case hardwareChanged = "hardware-changed"
        case operatorAction = "operator"
        /// The node told provable lies about its answers (``NodeConduct``); only an operator lifts it.
        case misbehaviour

        /// Whether a successful attestation alone lifts it.
        public var liftedByAttestation: Bool { self == .missedHeartbeats }
    }

    public enum DenialReason: String, Sendable, Hashable, Codable {
        case unknownNode = "unknown-node"
        case revoked
        case keyMismatch = "key-mismatch"
        case staleAttestation = "stale-attestation"
        case quarantined
        case hardwareChanged = "hardware-changed"
        case measurementNotAllowed = "measurement-not-allowed"
    }

    /// Why an enrollment was refused before anything changed.
    public enum EnrollmentRefusal: String, Sendable, Hashable, Codable {
        /// The id has a record already (trusted, quarantined): replacing its key needs `hearth nodes rekey`.
        case alreadyEnrolled = "already-enrolled"
        /// The id was revoked: only an operator's re-key brings it back, under a new key.
        case revokedNode = "revoked-node"
        /// The id is attested or data-centre (``Configuration/protectedIdentities``): it needs a re-key.
        case protectedIdentity = "protected-identity"
        /// The key itself is on the revocation list: refused whatever the token.
        case revokedKey = "revoked-key"
    }

    public enum Site: String, Sendable, Hashable, Codable {
        case home
        case dataCentre = "data-centre"
    }

    public enum Event: Sendable, Hashable {
        /// An operator-approved enrollment (one-time token checked by the shell). Replaces any earlier record of
        /// the node id; a revoked key stays revoked.
        case enrolled(Attestation, site: Site)
        /// A node presented a valid, unspent token for its id: enrolled only when ``enrollmentRefusal(for:rekey:)``
        /// allows it (`rekey`: the operator made the token with `hearth nodes rekey`).
        case enrollmentRequested(Attestation, site: Site, rekey: Bool)
        /// The node's tunnel registered (its hello passed the certificate checks): its missed-heartbeat clock starts.
        case hello(NodeID)
        case heartbeat(NodeID)
        case tamperReport(NodeID, TamperReport)
        /// The gateway saw the node's tunnel arrive from another autonomous system than at enrollment.
        case observedNetworkChange(NodeID, autonomousSystem: Int)
        case renewalRequested(Attestation)
        case tick
        case operatorQuarantine(NodeID)
        /// The gateway caught the node lying past ``NodeConduct``'s threshold.
        case misbehaved(NodeID)
        case operatorRevoke(NodeID, reason: String)
        case operatorRelease(NodeID)
        case allowedMeasurementsChanged(Set<String>)
        /// Another gateway replica wrote this node's record to the shared store (it enrolled, quarantined, released,
        /// revoked or re-keyed the node): take its state as stored. Yields only what this replica must do itself —
        /// close the node's tunnel here when it may no longer serve or its key changed, relabel it — since the replica
        /// that decided has already revoked, audited and written.
        case replicated(Attestation, site: Site, state: TrustState, quarantineReason: QuarantineReason?)
        /// Keys another replica revoked (the shared revocation list): refused here from now on.
        case replicatedRevocations([RevocationEntry])
    }

    public struct Alert: Sendable, Hashable {
        public enum Level: String, Sendable, Hashable { case warning, critical }
        public var level: Level
        public var node: NodeID
        public var message: String
    }

    public enum Action: Sendable, Hashable {
        case issueCertificate(NodeID, notBefore: Double, notAfter: Double)
        case denyRenewal(NodeID, DenialReason)
        /// Nothing changed: tell the caller why.
        case refuseEnrollment(NodeID, EnrollmentRefusal)
        /// A re-keyed node's old key: add it to the revocation list (persist it); the node keeps its id.
        case retireKey(RevocationEntry)
        /// Stop routing to the node (its labels change too); it keeps its certificate until it expires.
        case quarantine(NodeID, QuarantineReason)
        /// Add to the revocation list (persist it) and refuse the key at every future handshake.
        case revoke(RevocationEntry)
        case closeTunnel(NodeID)
        /// Migrate every in-flight request of the node elsewhere (``StreamMigration``).
        case failOverInFlight(NodeID)
        case alert(Alert)
        case updateLabels(NodeID, [String: String])
    }

    public struct NodeRecord: Sendable, Hashable {
        public var state: TrustState
        public var quarantineReason: QuarantineReason?
        public var keyFingerprint: String
        public var hardware: HardwareIdentity
        public var measurement: SoftwareMeasurement
        public var site: Site
        public var autonomousSystem: Int?
        public var lastHeartbeat: Double
        public var lastTamperAt: Double?
        /// Whether the node said hello since it was enrolled or the gateway started; until then it is starting, not
        /// silent, and ``Event/tick`` leaves it alone.
        public var heardFrom = false
    }

    public var configuration: Configuration
    public private(set) var nodes: [NodeID: NodeRecord] = [:]
    public private(set) var revocations: [RevocationEntry] = []
    private var revokedKeys: Set<String> = []

    public init(configuration: Configuration = Configuration(), revocations: [RevocationEntry] = []) {
        self.configuration = configuration
        self.revocations = revocations
        self.revokedKeys = Set(revocations.map(\.keyFingerprint))
    }

    public func state(of node: NodeID) -> TrustState? { nodes[node]?.state }

    /// Whether a handshake with this key must be refused.
    public func isRevoked(keyFingerprint: String) -> Bool { revokedKeys.contains(keyFingerprint) }

    /// The labels the scheduler's security filters read for this node.
    public func labels(for node: NodeID) -> [String: String] {
        guard let record = nodes[node] else { return [SecurityLabels.trustState: TrustState.quarantined.rawValue] }
        var labels = [SecurityLabels.trustState: record.state.rawValue, SecurityLabels.site: record.site.rawValue]
        if let last = record.lastTamperAt { labels[SecurityLabels.lastTamperAt] = String(last) }
        if record.hardware.confidentialComputingVerified { labels[SecurityLabels.attestation] = SecurityLabels.confidentialComputing }
        return labels
    }

    /// Puts back a node revoked before a restart, so operators still see it as `revoked` (its key stays refused
    /// through ``revocations``); it issues nothing.
    public mutating func restoreRevoked(_ attestation: Attestation, site: Site, now: Double) {
        nodes[attestation.node] = NodeRecord(
            state: .revoked, quarantineReason: nil, keyFingerprint: attestation.keyFingerprint, hardware: attestation.hardware,
            measurement: attestation.measurement, site: site, autonomousSystem: nil, lastHeartbeat: now, lastTamperAt: nil)
    }

    /// Why an enrollment of `attestation`'s node and key must be refused; nil: it may go ahead. Pure: the shell asks
    /// before spending the token, and ``Event/enrollmentRequested(_:site:rekey:)`` asks again when it commits.
    public func enrollmentRefusal(for attestation: Attestation, rekey: Bool) -> EnrollmentRefusal? {
        if revokedKeys.contains(attestation.keyFingerprint) { return .revokedKey }
        guard !rekey else { return nil }
        switch nodes[attestation.node]?.state {
        case .revoked: return .revokedNode
        case .trusted, .quarantined: return .alreadyEnrolled
        case nil: return configuration.protectedIdentities.contains(attestation.node) ? .protectedIdentity : nil
        }
    }

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        switch event {
        case .enrollmentRequested(let attestation, let site, let rekey):
            if let refusal = enrollmentRefusal(for: attestation, rekey: rekey) { return [.refuseEnrollment(attestation.node, refusal)] }
            var actions: [Action] = []
            if let old = nodes[attestation.node], old.keyFingerprint != attestation.keyFingerprint,
                !revokedKeys.contains(old.keyFingerprint)
            {
                let entry = RevocationEntry(
                    node: attestation.node, keyFingerprint: old.keyFingerprint, reason: "re-keyed by the operator", at: now)
                revocations.append(entry)
                revokedKeys.insert(old.keyFingerprint)
                actions += [.retireKey(entry), .closeTunnel(attestation.node), .failOverInFlight(attestation.node)]
            }
            return actions + handle(.enrolled(attestation, site: site), now: now)
        case .hello(let node):
            guard var record = nodes[node] else { return [] }
            record.heardFrom = true
            record.lastHeartbeat = max(record.lastHeartbeat, now)
            nodes[node] = record
            return []
        case .enrolled(let attestation, let site):
            guard !revokedKeys.contains(attestation.keyFingerprint) else { return [.denyRenewal(attestation.node, .revoked)] }
            nodes[attestation.node] = NodeRecord(
                state: .trusted, quarantineReason: nil, keyFingerprint: attestation.keyFingerprint, hardware: attestation.hardware,
                measurement: attestation.measurement, site: site, autonomousSystem: nil, lastHeartbeat: now, lastTamperAt: nil)
            let validity = configuration.certificates.validity(issuedAt: now)
            return [
                .issueCertificate(attestation.node, notBefore: validity.notBefore, notAfter: validity.notAfter),
                .updateLabels(attestation.node, labels(for: attestation.node)),
            ]
        case .heartbeat(let node):
            if let last = nodes[node]?.lastHeartbeat {
                nodes[node]?.lastHeartbeat = max(last, now)
                nodes[node]?.heardFrom = true
            }
            return []
        case .tamperReport(let node, let report):
            return tamper(node, report, now: now)
        case .observedNetworkChange(let node, let system):
            guard var record = nodes[node], record.state != .revoked else { return [] }
            guard let known = record.autonomousSystem else {
                nodes[node]?.autonomousSystem = system
                return []
            }
            guard known != system else { return [] }
            record.autonomousSystem = system
            record.lastTamperAt = now
            nodes[node] = record
            return [
                .alert(Alert(level: .warning, node: node, message: "tunnel now arrives from AS\(system), enrolled from AS\(known)")),
                .updateLabels(node, labels(for: node)),
            ]
        case .renewalRequested(let attestation):
            return renew(attestation, now: now)
        case .tick:
            var actions: [Action] = []
            for id in nodes.keys.sorted() {
                guard let record = nodes[id], record.state == .trusted, record.heardFrom,
                    now - record.lastHeartbeat > configuration.heartbeatTimeoutSeconds
                else { continue }
                actions += quarantine(id, .missedHeartbeats, now: now)
            }
            return actions
        case .operatorQuarantine(let node):
            guard let record = nodes[node], record.state == .trusted else { return [] }
            return quarantine(node, .operatorAction, now: now)
        case .misbehaved(let node):
            guard let record = nodes[node], record.state == .trusted else { return [] }
            return quarantine(node, .misbehaviour, now: now)
        case .operatorRevoke(let node, let reason):
            return revoke(node, reason: "operator: \(reason)", now: now)
        case .operatorRelease(let node):
            guard var record = nodes[node], record.state == .quarantined else { return [] }
            record.state = .trusted
            record.quarantineReason = nil
            record.lastHeartbeat = now
            nodes[node] = record
            return [.updateLabels(node, labels(for: node))]
        case .allowedMeasurementsChanged(let allowed):
            configuration.allowedMeasurements = allowed
            return []
        case .replicated(let attestation, let site, let state, let reason):
            return replicate(attestation, site: site, state: state, reason: reason, now: now)
        case .replicatedRevocations(let entries):
            for entry in entries where revokedKeys.insert(entry.keyFingerprint).inserted {
                revocations.append(entry)
            }
            return []
        }
    }

    private mutating func replicate(
        _ attestation: Attestation, site: Site, state: TrustState, reason: QuarantineReason?, now: Double
    ) -> [Action] {
        let node = attestation.node
        let old = nodes[node]
        if let old, old.state == state, old.quarantineReason == reason, old.keyFingerprint == attestation.keyFingerprint,
            old.site == site
        {
            return []  // this replica's own write, or one it has already taken
        }
        // A revocation is final for its key: a record read from before it (a replica that renewed the node a moment
        // earlier) cannot bring the key back. Only a new key, the operator's re-key, replaces it.
        if let old, old.state == .revoked, old.keyFingerprint == attestation.keyFingerprint, state != .revoked { return [] }
        // A missed-heartbeat quarantine is one replica's view of a tunnel it lost: the node may be heard fine here
        // (its tunnels moved), and its next attestation lifts it anyway. Taken only for a node this replica never knew.
        if old != nil, state == .quarantined, reason == .missedHeartbeats { return [] }
        var record =
            old
            ?? NodeRecord(
                state: state, quarantineReason: reason, keyFingerprint: attestation.keyFingerprint, hardware: attestation.hardware,
                measurement: attestation.measurement, site: site, autonomousSystem: nil, lastHeartbeat: now, lastTamperAt: nil)
        let keyChanged = old.map { $0.keyFingerprint != attestation.keyFingerprint } ?? false
        record.state = state
        record.quarantineReason = state == .quarantined ? reason : nil
        record.keyFingerprint = attestation.keyFingerprint
        record.hardware = attestation.hardware
        record.measurement = attestation.measurement
        record.site = site
        // Back in service here: its missed-heartbeat clock restarts from now, as after an operator's release.
        if state == .trusted, old?.state != .trusted { record.lastHeartbeat = max(record.lastHeartbeat, now) }
        nodes[node] = record
        var actions: [Action] = []
        let mayNoLongerServe = state != .trusted && (old == nil || old?.state == .trusted)
        if mayNoLongerServe || keyChanged || state == .revoked { actions += [.closeTunnel(node), .failOverInFlight(node)] }
        return actions + [.updateLabels(node, labels(for: node))]
    }

    private mutating func tamper(_ node: NodeID, _ report: TamperReport, now: Double) -> [Action] {
        guard var record = nodes[node], record.state != .revoked else { return [] }
        let names = report.findings.map(\.rawValue).joined(separator: ", ")
        if report.quarantined || report.severity == .critical {
            return revoke(node, reason: "tamper: \(names)", now: now)
        }
        guard report.severity >= .strong else { return [] }
        record.lastTamperAt = now
        nodes[node] = record
        return [
            .alert(Alert(level: .warning, node: node, message: "tamper signal: \(names)")),
            .updateLabels(node, labels(for: node)),
        ]
    }

    private mutating func renew(_ attestation: Attestation, now: Double) -> [Action] {
        let node = attestation.node
        guard var record = nodes[node] else { return [.denyRenewal(node, .unknownNode)] }
        if record.state == .revoked || revokedKeys.contains(attestation.keyFingerprint) { return [.denyRenewal(node, .revoked)] }
        if attestation.keyFingerprint != record.keyFingerprint {
            return [
                .denyRenewal(node, .keyMismatch),
                .alert(Alert(level: .critical, node: node, message: "renewal attempted with a key that is not the node's")),
            ]
        }
        if !(now - attestation.measuredAt <= configuration.attestationMaxAgeSeconds) { return [.denyRenewal(node, .staleAttestation)] }
        if !attestation.hardware.isSameMachine(as: record.hardware) {
            let actions = record.state == .trusted ? quarantine(node, .hardwareChanged, now: now) : []
            return [.denyRenewal(node, .hardwareChanged)] + actions
        }
        if !configuration.allowedMeasurements.contains(attestation.measurement.digest) {
            let actions = record.state == .trusted ? quarantine(node, .measurementChanged, now: now) : []
            return [.denyRenewal(node, .measurementNotAllowed)] + actions
        }
        var actions: [Action] = []
        if record.state == .quarantined {
            guard record.quarantineReason?.liftedByAttestation == true else { return [.denyRenewal(node, .quarantined)] }
            record.state = .trusted
            record.quarantineReason = nil
        }
        let labelsBefore = labels(for: node)
        record.measurement = attestation.measurement
        record.hardware = attestation.hardware
        record.lastHeartbeat = max(record.lastHeartbeat, now)
        nodes[node] = record
        let validity = configuration.certificates.validity(issuedAt: now)
        actions.append(.issueCertificate(node, notBefore: validity.notBefore, notAfter: validity.notAfter))
        let labelsAfter = labels(for: node)
        if labelsAfter != labelsBefore || actions.count > 1 { actions.append(.updateLabels(node, labelsAfter)) }
        return actions
    }

    private mutating func quarantine(_ node: NodeID, _ reason: QuarantineReason, now: Double) -> [Action] {
        guard var record = nodes[node] else { return [] }
        record.state = .quarantined
        record.quarantineReason = reason
        nodes[node] = record
        var actions: [Action] = [.quarantine(node, reason), .updateLabels(node, labels(for: node)), .failOverInFlight(node)]
        if reason == .missedHeartbeats { actions.append(.closeTunnel(node)) }
        actions.append(.alert(Alert(level: .warning, node: node, message: "quarantined: \(reason.rawValue)")))
        return actions
    }

    private mutating func revoke(_ node: NodeID, reason: String, now: Double) -> [Action] {
        guard var record = nodes[node], record.state != .revoked else { return [] }
        record.state = .revoked
        record.quarantineReason = nil
        record.lastTamperAt = now
        nodes[node] = record
        let entry = RevocationEntry(node: node, keyFingerprint: record.keyFingerprint, reason: reason, at: now)
        revocations.append(entry)
        revokedKeys.insert(record.keyFingerprint)
        return [
            .revoke(entry),
            .closeTunnel(node),
            .failOverInFlight(node),
            .updateLabels(node, labels(for: node)),
            .alert(Alert(level: .critical, node: node, message: "revoked: \(reason)")),
        ]
    }
}
