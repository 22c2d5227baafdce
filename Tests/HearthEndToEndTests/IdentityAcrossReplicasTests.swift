import Crypto
import Foundation
import HearthCore
import HearthGateway
import HearthIdentity
import HearthNode
import HearthProtocol
import Logging
import Testing
import X509

/// Issue 14: gateway replicas on one PostgreSQL store share the identity records. A node enrolled on one replica is
/// admitted by the other, and a node revoked on one replica loses its tunnel on the other at once (the store notifies
/// every replica when the record changes), not at the other's next restart.
@Suite struct IdentityAcrossReplicasTests {
    static var logger: Logger {
        var logger = Logger(label: "hearth.test.identity")
        logger.logLevel = ProcessInfo.processInfo.environment["HEARTH_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    /// Enrolls `node` on `identity` as `hearth node --enroll-token` does (key, CSR and attestation in `folder`) and
    /// stores its certificate; returns the node's identity and the grant.
    static func enroll(_ node: NodeID, on identity: GatewayIdentity, folder: String) async throws
        -> (identity: NodeIdentityConfiguration, grant: CertificateGrant)
    {
        let credentials = NodeCredentialStore(directory: folder + "/node", node: node)
        let agentBinary = folder + "/agent.bin"
        try Data("agent build 1".utf8).write(to: URL(fileURLWithPath: agentBinary))
        let nodeIdentity = NodeIdentityConfiguration(credentials: credentials, agentBinary: agentBinary)
        let grant = try await identity.enroll(
            EnrollmentRequest(
                token: try await identity.createEnrollmentToken(for: node), nodeID: node,
                csrPEM: try credentials.certificateSigningRequestPEM(), attestation: try NodeEnrollment.attestation(nodeIdentity)))
        try credentials.store(certificatePEM: grant.certificatePEM, authorityPEM: grant.authorityPEM)
        return (nodeIdentity, grant)
    }

    @Test(.timeLimit(.minutes(1)))
    func aNodeRevokedOnOneReplicaLosesItsTunnelOnTheOther() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-replicas-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await TestPostgres.with { address in
            try await PostgresFleetStore.withStore(address, logger: Self.logger) { store in
                // Both replicas hold the fleet CA (one folder) and keep their trust records in the shared database.
                let identities = IdentityConfiguration(directory: folder)
                let first = try await GatewayIdentity.open(configuration: identities, fleetStore: store, logger: Self.logger)
                let second = try await GatewayIdentity.open(configuration: identities, fleetStore: store, logger: Self.logger)
                try await withTestFleet(nodes: [], sharedIdentity: first, waitForNodes: false, store: store) { one in
                    try await withTestFleet(nodes: [], sharedIdentity: second, waitForNodes: false, store: store) { other in
                        let node = NodeID("home-9")
                        // Enrolled on the first replica only.
                        let enrolled = try await Self.enroll(node, on: first, folder: folder)
                        let agent = NodeOnSeveralGatewaysTests.agent(
                            id: node.rawValue, engine: TestEngine.firstWordThenGate(),
                            gateways: NodeOnSeveralGatewaysTests.Replicas([one, other]), identity: enrolled.identity)
                        try await NodeOnSeveralGatewaysTests.running(agent) {
                            // The second replica admits the node the first one enrolled.
                            await one.gateway.waitForNodes(1)
                            await other.gateway.waitForNodes(1)
                            let served = try await other.post(json: chatBody(model: "test-model"))
                            #expect(served.status == 200)
                            #expect(served.headers["x-hearth-node"] == node.rawValue)

                            let removed = other.gateway.registry.events()
                            try await first.operatorAction(.revoke, node: node, reason: "stolen", actor: "operator")
                            for await event in removed {
                                if case .removed(let id, _) = event, id == node { break }
                            }
                            #expect(other.gateway.connectedNodes.isEmpty)
                            #expect(second.statuses(connected: []).first { $0.id == node.rawValue }?.trust == "revoked")
                            // It cannot come back on either replica: the next request finds no node.
                            let refused = try await other.post(json: chatBody(model: "test-model"))
                            #expect(refused.status == 503)
                            // Audited as on a lone gateway (the operator's action, the gateway's revocation): the second
                            // replica took the record, it did not revoke again.
                            let revokes = try await second.auditLog().filter { $0.action == "revoke" }
                            #expect(revokes.map(\.actor).sorted() == ["gateway", "operator"])
                        }
                    }
                }
            }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func eachReplicaEnrollsWithItsOwnIntermediateAndNodesTrustOnlyTheRoot() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-intermediates-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // The root is made once and kept elsewhere (offline); each replica holds only its own intermediate.
        let root = try FleetCertificateAuthority.create()
        try root.store(in: folder + "/root")
        for replica in ["a", "b"] { try root.issueIntermediate(name: "replica \(replica)").store(in: folder + "/" + replica) }
        #expect(!FileManager.default.fileExists(atPath: folder + "/a/identity.sqlite"))
        try await TestPostgres.with { address in
            try await PostgresFleetStore.withStore(address, logger: Self.logger) { store in
                let first = try await GatewayIdentity.open(
                    configuration: IdentityConfiguration(directory: folder + "/a"), fleetStore: store, logger: Self.logger)
                let second = try await GatewayIdentity.open(
                    configuration: IdentityConfiguration(directory: folder + "/b"), fleetStore: store, logger: Self.logger)
                #expect(first.authority.isIntermediate && second.authority.isIntermediate)
                #expect(first.authority.root == root.certificate && first.authority.certificate != second.authority.certificate)
                try await withTestFleet(nodes: [], sharedIdentity: first, waitForNodes: false, store: store) { one in
                    try await withTestFleet(nodes: [], sharedIdentity: second, waitForNodes: false, store: store) { other in
                        let node = NodeID("home-7")
                        // Enrolled by the first replica: its certificate chains through that replica's intermediate.
                        let enrolled = try await Self.enroll(node, on: first, folder: folder)
                        #expect(enrolled.grant.authorityPEM == (try root.rootPEM()), "nodes trust the root, not a replica")
                        #expect(
                            enrolled.grant.certificatePEM.components(separatedBy: "BEGIN CERTIFICATE").count == 3, "leaf and intermediate")
                        #expect(enrolled.identity.credentials.certificate().map { CertificateFacts.node(of: $0) } == node)
                        let agent = NodeOnSeveralGatewaysTests.agent(
                            id: node.rawValue, engine: TestEngine.firstWordThenGate(),
                            gateways: NodeOnSeveralGatewaysTests.Replicas([one, other]), identity: enrolled.identity)
                        try await NodeOnSeveralGatewaysTests.running(agent) {
                            // Mutual TLS both ways through two intermediates: each replica checks a chain through the
                            // other's, the node checks each replica's tunnel certificate against the root.
                            await one.gateway.waitForNodes(1)
                            await other.gateway.waitForNodes(1)
                            for fleet in [one, other] {
                                let served = try await fleet.post(json: chatBody(model: "test-model"))
                                #expect(served.status == 200)
                                #expect(served.headers["x-hearth-node"] == node.rawValue)
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func anIntermediateSignsNoAuthorityAndARootFromBeforeIntermediatesSignsNone() throws {
        let intermediate = try FleetCertificateAuthority.create().issueIntermediate(name: "replica")
        #expect(throws: FleetCertificateAuthority.Failure.self) { try intermediate.issueIntermediate(name: "deeper") }
        // A root as fleets made them before issue 14: path length 0.
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("Hearth fleet CA") }
        let legacy = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey), notValidBefore: Date(),
            notValidAfter: Date().addingTimeInterval(86_400), issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0)) },
            issuerPrivateKey: .init(key))
        #expect(throws: FleetCertificateAuthority.Failure.self) {
            try FleetCertificateAuthority(certificate: legacy, key: key).issueIntermediate(name: "replica")
        }
    }
}
