import Foundation
import HearthCore
import HearthGateway
import HearthIdentity
import HearthNode
import HearthProtocol
import Logging
import NIOCore
import Testing

/// Issue 11, identity: tokens name their node, an existing or revoked id needs the operator's re-key, a CSR is
/// checked before anything changes, operator keys rotate, and refused calls cannot grow the audit log.
@Suite struct EnrollmentHardeningTests {
    static func credentials(_ id: String) -> NodeIdentityConfiguration {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-enroll-\(UUID().uuidString)").path
        return NodeIdentityConfiguration(credentials: NodeCredentialStore(directory: directory, node: NodeID(id)))
    }

    /// Enrolls `node` with `token` straight through the gateway's identity (what `/v1/nodes/enroll` calls).
    static func enroll(_ node: NodeIdentityConfiguration, token: String, identity: GatewayIdentity) async throws {
        let request = EnrollmentRequest(
            token: token, nodeID: node.credentials.node, csrPEM: try node.credentials.certificateSigningRequestPEM(),
            attestation: try NodeEnrollment.attestation(node))
        let grant = try await identity.enroll(request)
        try node.credentials.store(certificatePEM: grant.certificatePEM, authorityPEM: grant.authorityPEM)
    }

    static func trust(of node: String, in identity: GatewayIdentity) -> GatewayIdentity.NodeStatus? {
        identity.statuses(connected: []).first { $0.id == node }
    }

    @Test func aTokenForOneNodeCannotEnrollAnotherAndARefusalDoesNotSpendIt() async throws {
        try await withTestFleet(nodes: [], identities: TestIdentities(), waitForNodes: false) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let token = try await identity.createEnrollmentToken(for: NodeID("node-a"))
            let intruder = Self.credentials("node-b")
            await #expect(throws: NodeEnrollment.Failure.self) {
                try await NodeEnrollment.enroll(gatewayURL: fleet.baseURL, token: token, configuration: intruder, client: fleet.client)
            }
            #expect(Self.trust(of: "node-b", in: identity) == nil)
            // The node the token names still enrolls with it.
            let rightful = Self.credentials("node-a")
            try await NodeEnrollment.enroll(gatewayURL: fleet.baseURL, token: token, configuration: rightful, client: fleet.client)
            #expect(Self.trust(of: "node-a", in: identity)?.trust == "trusted")
        }
    }

    @Test func anEnrolledIdNeedsTheOperatorsRekeyAndTheRekeyRetiresTheOldKey() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: IdentityTests.echo())], identities: TestIdentities()) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let original = try #require(fleet.agents.first?.configuration.identity?.credentials)
            let fingerprint = try #require(Self.trust(of: "n1", in: identity)?.keyFingerprint)
            // An ordinary token for an id that exists: refused, nothing changes, the node keeps serving.
            let impostor = Self.credentials("n1")
            let ordinary = try await identity.createEnrollmentToken(for: NodeID("n1"))
            await #expect(throws: GatewayIdentity.Failure.self) { try await Self.enroll(impostor, token: ordinary, identity: identity) }
            #expect(Self.trust(of: "n1", in: identity)?.keyFingerprint == fingerprint)
            #expect(try await fleet.post(json: chatBody(model: "test-model")).status == 200)

            // The operator's re-key, through the admin API as `hearth nodes rekey n1` sends it.
            let operatorKey = try await identity.createOperatorKey()
            let ordered = try await fleet.post(
                "/admin/enrollment-tokens", body: Data(#"{"node":"n1","rekey":true}"#.utf8), apiKey: operatorKey)
            let rekey = try #require(ordered.json?["token"] as? String, "\(ordered.body)")
            let replacement = Self.credentials("n1")
            try await Self.enroll(replacement, token: rekey, identity: identity)
            #expect(Self.trust(of: "n1", in: identity)?.keyFingerprint == (try replacement.credentials.keyFingerprint()))
            // The old key is refused at the tunnel from now on.
            let stale = try await RawNode.connect(port: fleet.addresses.tunnelPort, tls: try IdentityTests.context(for: original))
            try? await stale.send(.json(.hello, RawNode.hello(id: "n1")))
            #expect(await IdentityTests.welcomed(stale) == false)
            #expect(try await identity.auditLog().contains { $0.action == "retire-key" && $0.node == "n1" })
        }
    }

    @Test func aRevokedIdCannotComeBackWithAFreshToken() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: IdentityTests.echo())], identities: TestIdentities()) { fleet in
            let identity = try #require(fleet.gateway.identity)
            try await identity.operatorAction(.revoke, node: NodeID("n1"), reason: "stolen", actor: "test")
            let thief = Self.credentials("n1")
            let fresh = try await identity.createEnrollmentToken(for: NodeID("n1"))
            await #expect(throws: GatewayIdentity.Failure.self) { try await Self.enroll(thief, token: fresh, identity: identity) }
            #expect(Self.trust(of: "n1", in: identity)?.trust == "revoked")
            // Still revoked after a restart.
            let restarted = try await GatewayIdentity.open(configuration: identity.configuration, logger: Logger(label: "restarted"))
            let again = try await restarted.createEnrollmentToken(for: NodeID("n1"))
            await #expect(throws: GatewayIdentity.Failure.self) { try await Self.enroll(thief, token: again, identity: restarted) }
            #expect(Self.trust(of: "n1", in: restarted)?.trust == "revoked")
        }
    }

    @Test func aCSRForAnotherKeyChangesNoTrustStateAndLeavesTheTokenUnspent() async throws {
        try await withTestFleet(nodes: [], identities: TestIdentities(), waitForNodes: false) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let token = try await identity.createEnrollmentToken(for: NodeID("n2"))
            let attested = Self.credentials("n2")
            let other = Self.credentials("n2")
            let mismatched = EnrollmentRequest(
                token: token, nodeID: NodeID("n2"), csrPEM: try other.credentials.certificateSigningRequestPEM(),
                attestation: try NodeEnrollment.attestation(attested))
            await #expect(throws: GatewayIdentity.Failure.self) { _ = try await identity.enroll(mismatched) }
            let garbage = EnrollmentRequest(
                token: token, nodeID: NodeID("n2"), csrPEM: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
                attestation: try NodeEnrollment.attestation(attested))
            await #expect(throws: GatewayIdentity.Failure.self) { _ = try await identity.enroll(garbage) }
            #expect(Self.trust(of: "n2", in: identity) == nil)
            // A correct request with the same token still goes through.
            try await Self.enroll(attested, token: token, identity: identity)
            #expect(Self.trust(of: "n2", in: identity)?.trust == "trusted")
        }
    }

    @Test func anAttestedOrDataCentreIdNeedsARekeyEvenTheFirstTime() async throws {
        try await withTestFleet(
            nodes: [], configure: { $0.dataCentreNodes = [NodeID("dc-1")] }, identities: TestIdentities(), waitForNodes: false
        ) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let node = Self.credentials("dc-1")
            let ordinary = try await identity.createEnrollmentToken(for: NodeID("dc-1"))
            await #expect(throws: GatewayIdentity.Failure.self) { try await Self.enroll(node, token: ordinary, identity: identity) }
            #expect(Self.trust(of: "dc-1", in: identity) == nil)
            let rekey = try await identity.createEnrollmentToken(for: NodeID("dc-1"), site: .dataCentre, rekey: true)
            try await Self.enroll(node, token: rekey, identity: identity)
            #expect(Self.trust(of: "dc-1", in: identity)?.site == "data-centre")
        }
    }

    @Test func rotatingTheOperatorKeyRevokesTheOldOne() async throws {
        try await withTestFleet(nodes: [], identities: TestIdentities(), waitForNodes: false) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let old = try await identity.createOperatorKey()
            let rotated = try await fleet.post("/admin/operator-key/rotate", body: Data(), apiKey: old)
            let new = try #require(rotated.json?["operator_key"] as? String, "\(rotated.body)")
            let withOld = try await sendHTTP(
                url: fleet.baseURL + "/admin/nodes", method: .GET, body: nil, apiKey: old, headers: [], client: fleet.client)
            #expect(withOld.status == 401)
            let withNew = try await sendHTTP(
                url: fleet.baseURL + "/admin/nodes", method: .GET, body: nil, apiKey: new, headers: [], client: fleet.client)
            #expect(withNew.status == 200)
        }
    }

    @Test func tenThousandRefusedEnrollmentCallsAddOneAuditRow() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-audit-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = IdentityConfiguration(directory: directory)
        configuration.auditWindowSeconds = 3600
        let identity = try await GatewayIdentity.open(configuration: configuration, logger: Logger(label: "audit"))
        let before = try await identity.auditLogCount()
        let node = Self.credentials("probe")
        let csr = try node.credentials.certificateSigningRequestPEM()
        let attestation = try NodeEnrollment.attestation(node)
        for call in 0..<10_000 {
            // Unknown tokens, and ids no row should ever carry (long, odd bytes).
            let id = call.isMultiple(of: 2) ? "probe" : String(repeating: "x\u{1}", count: 2_000)
            let request = EnrollmentRequest(token: "hearth-enroll-\(call)", nodeID: NodeID(id), csrPEM: csr, attestation: attestation)
            await #expect(throws: GatewayIdentity.Failure.self) { _ = try await identity.enroll(request) }
        }
        #expect(try await identity.auditLogCount() == before + 1)
        let row = try #require(try await identity.auditLog().last)
        #expect(row.action == "enrollment-refused")
    }
}
