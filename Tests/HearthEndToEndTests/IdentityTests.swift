import Crypto
import Foundation
import HearthCore
import HearthGateway
import HearthIdentity
import HearthNode
import HearthProtocol
import HearthTunnel
import Logging
import NIOCore
import NIOSSL
import Testing
import X509

/// Attacks on node identity, each with its expected outcome.
@Suite struct IdentityTests {
    static func echo() -> TestEngine {
        TestEngine { request, _, emit in for chunk in TestEngine.sse(words: ["hi"], request: request) { try await emit(chunk) } }
    }

    @Test func enrolledNodesServeOverMutualTLSAndKeysAreFilesOnlyTheirOwnerReads() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: Self.echo())], identities: TestIdentities()) { fleet in
            let response = try await fleet.post(json: chatBody(model: "test-model", stream: true))
            #expect(response.status == 200)
            #expect(response.headers["x-hearth-node"] == "n1")
            let identity = try #require(fleet.agents.first?.configuration.identity)
            #expect(SecretFile.mode(of: identity.credentials.directory + "/node-key.pem") == 0o600)
            let statuses = try #require(fleet.gateway.identity).statuses(connected: Set(fleet.gateway.connectedNodes))
            #expect(statuses.map(\.state) == ["connected"])
        }
    }

    @Test func enrollmentOverHTTPSpendsTheTokenOnce() async throws {
        try await withTestFleet(nodes: [], identities: TestIdentities(), waitForNodes: false) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let token = try await identity.createEnrollmentToken(for: NodeID("new"))
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-enroll-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let node = NodeIdentityConfiguration(credentials: NodeCredentialStore(directory: directory, node: NodeID("new")))
            try await NodeEnrollment.enroll(gatewayURL: fleet.baseURL, token: token, configuration: node, client: fleet.client)
            #expect(node.credentials.isEnrolled)
            let second = NodeIdentityConfiguration(credentials: NodeCredentialStore(directory: directory + "-2", node: NodeID("other")))
            await #expect(throws: NodeEnrollment.Failure.self) {
                try await NodeEnrollment.enroll(gatewayURL: fleet.baseURL, token: token, configuration: second, client: fleet.client)
            }
        }
    }

    @Test func nodesWithoutAValidCertificateFromTheFleetCACannotRegister() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: Self.echo())], identities: TestIdentities()) { fleet in
            let port = fleet.addresses.tunnelPort
            let identity = try #require(fleet.gateway.identity)
            let enrolled = try #require(fleet.agents.first?.configuration.identity?.credentials)
            let authorityPEM = try identity.authority.certificatePEM()

            // 1. No TLS at all: the plain hello never gets a welcome.
            let plain = try await RawNode.connect(port: port)
            try? await plain.send(.json(.hello, RawNode.hello(id: "intruder")))
            #expect(await Self.welcomed(plain) == false)

            // 2. TLS with a certificate from another CA.
            let rogueCA = try FleetCertificateAuthority.create(name: "Rogue CA")
            let rogueKey = NodeCredentialStore(directory: NSTemporaryDirectory() + "rogue-\(UUID())", node: NodeID("n1"))
            let rogueCertificate = try rogueCA.issueNodeCertificate(
                csrPEM: try rogueKey.certificateSigningRequestPEM(), node: NodeID("n1"), notBefore: Date().addingTimeInterval(-60),
                notAfter: Date().addingTimeInterval(3600))
            let rogue = try await RawNode.connect(
                port: port,
                tls: try TunnelTLS.clientContext(
                    certificatePEM: try rogueCertificate.serializeAsPEM().pemString, key: try rogueKey.key(), authorityPEM: authorityPEM))
            try? await rogue.send(.json(.hello, RawNode.hello(id: "n1")))
            #expect(await Self.welcomed(rogue) == false)

            // 3. An expired certificate from the real CA, for the enrolled key.
            let expired = try identity.authority.issueNodeCertificate(
                csrPEM: try enrolled.certificateSigningRequestPEM(), node: NodeID("n1"), notBefore: Date().addingTimeInterval(-7200),
                notAfter: Date().addingTimeInterval(-3600))
            let stale = try await RawNode.connect(
                port: port,
                tls: try TunnelTLS.clientContext(
                    certificatePEM: try expired.serializeAsPEM().pemString, key: try enrolled.key(), authorityPEM: authorityPEM))
            try? await stale.send(.json(.hello, RawNode.hello(id: "n1")))
            #expect(await Self.welcomed(stale) == false)

            // 4. A valid certificate used to claim another node's id.
            let impostor = try await RawNode.connect(port: port, tls: try Self.context(for: enrolled))
            try await impostor.send(.json(.hello, RawNode.hello(id: "someone-else")))
            #expect(await Self.welcomed(impostor) == false)
            #expect(fleet.gateway.connectedNodes == [NodeID("n1")])
        }
    }

    @Test func aRevokedNodeIsCutOffAndCanNeverReconnectWithItsIdentity() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: Self.echo())], identities: TestIdentities()) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let credentials = try #require(fleet.agents.first?.configuration.identity?.credentials)
            let operatorKey = try await identity.createOperatorKey()
            let revoked = try await fleet.post(
                "/admin/nodes/n1/revoke", body: Data(#"{"reason":"stolen"}"#.utf8), apiKey: operatorKey)
            #expect(revoked.status == 200, "\(revoked.body)")
            #expect(revoked.json?["state"] as? String == "revoked")

            // The same credentials are refused at registration, now and later.
            let retry = try await RawNode.connect(port: fleet.addresses.tunnelPort, tls: try Self.context(for: credentials))
            try await retry.send(.json(.hello, RawNode.hello(id: "n1")))
            #expect(await Self.welcomed(retry) == false)

            // Operators see it, and the audit log has the action.
            let list = try await sendHTTP(
                url: fleet.baseURL + "/admin/nodes", method: .GET, body: nil, apiKey: operatorKey, headers: [], client: fleet.client)
            let nodes = try #require(try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]])
            #expect(nodes.first?["id"] as? String == "n1")
            #expect(nodes.first?["state"] as? String == "revoked")
            #expect(try await identity.auditLog().contains { $0.action == "revoke" && $0.node == "n1" })
            // After a gateway restart the node is still listed as revoked (not forgotten).
            let restarted = try await GatewayIdentity.open(configuration: identity.configuration, logger: Logger(label: "restarted"))
            #expect(restarted.statuses(connected: []).first { $0.id == "n1" }?.trust == "revoked")
            // Without the operator key: 401.
            let anonymous = try await sendHTTP(
                url: fleet.baseURL + "/admin/nodes", method: .GET, body: nil, apiKey: fleet.apiKey, headers: [], client: fleet.client)
            #expect(anonymous.status == 401)
        }
    }

    @Test func aNodeWhoseBinaryChangedIsQuarantinedAtRenewal() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: Self.echo())], identities: TestIdentities()) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let node = try #require(fleet.agents.first?.configuration.identity)
            let events = identity.auditEvents()
            // A resident swaps the agent binary; the node re-attests when it reconnects.
            try Data("patched agent".utf8).write(to: URL(fileURLWithPath: node.agentBinary))
            try await fleet.gateway.registry.session(NodeID("n1"))?.channel.close()
            for await event in events where event.action == "quarantine" && event.node == NodeID("n1") { break }
            #expect(identity.statuses(connected: []).first?.trust == "quarantined")
            #expect(identity.statuses(connected: []).first?.quarantineReason == "measurement-changed")
            // It gets no work: refused as draining (503/429), or, while its quarantined tunnel is being closed and
            // reopened, as a model no node serves (404).
            let response = try await fleet.post(json: chatBody(model: "test-model"))
            #expect([503, 429, 404].contains(response.status), "\(response.status): \(response.body)")
        }
    }

    @Test func theftIsRevokedWithinAHeartbeatAndItsStreamFinishesElsewhere() async throws {
        let stall = StallOnce()
        let sensors = (0..<2).map { _ in SimulatedTamperSensor() }
        let engines = (0..<2).map { _ in TestEngine(behaviour: ContinuingAnswer.behaviour(stallAfter: 3, stall: stall)) }
        let specs = (0..<2).map { TestNodeSpec(id: "node-\($0)", engine: engines[$0], tamper: sensors[$0]) }
        try await withTestFleet(nodes: specs, identities: TestIdentities()) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let events = identity.auditEvents()
            let started = Date()
            let answer = try await fleet.streamAndInterrupt(
                json: chatBody(model: "test-model", stream: true, maxTokens: 64), after: "word2"
            ) { node in
                // Carried off: a new network and the case opened.
                let sensor = sensors[node == "node-0" ? 0 : 1]
                sensor.emit(.networkLocation(NetworkLocation(routerIdentity: "aa:bb:cc:00:00:01")))
                sensor.emit(.networkLocation(NetworkLocation(routerIdentity: "de:ad:be:ef:00:02")))
                sensor.emit(.enclosureOpened)
            }
            let victim = try #require(answer.headers["x-hearth-node"])
            #expect(answer.streamedText == ContinuingAnswer.text)
            #expect(answer.events.filter { $0 == "[DONE]" }.count == 1)
            var revokedAt: Date?
            for await event in events where event.action == "revoke" && event.node == NodeID(victim) {
                revokedAt = event.at
                break
            }
            // Revoked as soon as the report arrives: well within one heartbeat of the last signal once the node sent it
            // (the bound here is loose only so that a busy test machine does not fail it).
            #expect(try #require(revokedAt).timeIntervalSince(started) < 5)
            let victimCredentials = try #require(fleet.agents.first { $0.configuration.nodeID == NodeID(victim) }?.configuration.identity)
            #expect(victimCredentials.credentials.isEnrolled == false)  // zeroized
            #expect(identity.statuses(connected: []).first { $0.id == victim }?.state == "revoked")
        }
    }

    /// Whether the gateway answers the hello with a welcome (false: an error frame or a closed connection).
    static func welcomed(_ node: RawNode) async -> Bool {
        for await frame in node.frames {
            if frame.kind == .welcome { return true }
            if frame.kind == .error { return false }
        }
        return false
    }

    static func context(for credentials: NodeCredentialStore) throws -> NIOSSLContext {
        try TunnelTLS.clientContext(
            certificatePEM: try #require(credentials.certificatePEM), key: try credentials.key(),
            authorityPEM: try #require(credentials.authorityPEM))
    }
}

@Suite struct FleetCertificateAuthorityTests {
    @Test func issuedCertificatesVerifyAgainstTheRoot() throws {
        let authority = try FleetCertificateAuthority.create()
        let key = P256.Signing.PrivateKey()
        let server = try authority.issueServerCertificate(key: key, hosts: ["127.0.0.1"])
        #expect(authority.certificate.publicKey.isValidSignature(server.signature, for: server))
        let reparsed = try Certificate(derEncoded: try CertificateFacts.derBytes(of: server))
        #expect(authority.certificate.publicKey.isValidSignature(reparsed.signature, for: reparsed))
        let root = try Certificate(pemEncoded: try authority.certificatePEM())
        #expect(root.publicKey.isValidSignature(server.signature, for: server))
    }
}
