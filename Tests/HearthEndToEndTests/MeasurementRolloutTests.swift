import Foundation
import HearthCore
import HearthGateway
import HearthIdentity
import HearthNode
import Testing

/// A staged roll-out (issue 16): the operator approves a new release's measurement before a node upgrades, so the
/// upgraded node renews and keeps serving; retiring the old measurement stops a node still on it.
@Suite struct MeasurementRolloutTests {
    static func admin(_ fleet: TestFleet, _ key: String, _ path: String, post: [String: Any]? = nil) async throws -> CollectedResponse {
        try await sendHTTP(
            url: fleet.baseURL + path, method: post == nil ? .GET : .POST,
            body: try post.map { try JSONSerialization.data(withJSONObject: $0) }, apiKey: key, headers: [], client: fleet.client)
    }

    @Test func anApprovedReleaseRenewsTrustedAndARetiredOneIsQuarantined() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: IdentityTests.echo())], identities: TestIdentities()) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let node = try #require(fleet.agents.first?.configuration.identity)
            let operatorKey = try await identity.createOperatorKey()
            let old = try #require(identity.statuses(connected: []).first?.measurement)
            #expect(SoftwareMeasurer().measure(agent: node.agentBinary, engine: nil, model: nil).digest == old)

            // The new release, measured as the operator's build pipeline would, and approved before the node runs it.
            let release = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-agent-1.1-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: release) }
            try Data("agent 1.1".utf8).write(to: release)
            let new = SoftwareMeasurer().measure(agent: release.path, engine: nil, model: nil).digest
            let approved = try await Self.admin(fleet, operatorKey, "/admin/measurements/\(new)/approve", post: ["label": "agent 1.1"])
            #expect(approved.status == 200, "\(approved.body)")

            // The node upgrades and re-attests at its next connection: its renewal is granted, it stays trusted.
            let events = identity.auditEvents()
            let renewals = identity.renewals()
            try Data("agent 1.1".utf8).write(to: URL(fileURLWithPath: node.agentBinary))
            try await fleet.gateway.registry.session(NodeID("n1"))?.channel.close()
            var upgraded: GatewayIdentity.Renewal?
            for await renewal in renewals where renewal.measurement == new {
                upgraded = renewal
                break
            }
            #expect(upgraded?.denied == nil)
            #expect(identity.statuses(connected: []).first?.trust == "trusted")
            #expect(identity.statuses(connected: []).first?.measurement == new)
            await fleet.gateway.waitForNodes(1)
            let served = try await fleet.post(json: chatBody(model: "test-model"))
            #expect(served.status == 200)

            // The list shows both, with the node on the new one.
            let list = try await Self.admin(fleet, operatorKey, "/admin/measurements")
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]])
            let newEntry = try #require(entries.first { $0["digest"] as? String == new })
            #expect(newEntry["source"] as? String == "approved")
            #expect(newEntry["label"] as? String == "agent 1.1")
            #expect(newEntry["nodes"] as? [String] == ["n1"])
            // The old release, learned when the node enrolled, is still allowed until it is retired.
            let oldEntry = entries.first { $0["digest"] as? String == old }
            #expect(oldEntry?["source"] as? String == "learned", "\(entries)")
            #expect(oldEntry?["allowed"] as? Bool == true)

            // Retiring the release the node runs: quarantined at its next renewal.
            let retired = try await Self.admin(fleet, operatorKey, "/admin/measurements/\(new)/retire", post: ["label": "withdrawn"])
            #expect(retired.status == 200)
            try await fleet.gateway.registry.session(NodeID("n1"))?.channel.close()
            for await event in events where event.action == "quarantine" && event.node == NodeID("n1") { break }
            #expect(identity.statuses(connected: []).first?.quarantineReason == "measurement-changed")
            let log = try await identity.auditLog()
            #expect(log.contains { $0.action == "measurement-approved" && $0.detail.hasPrefix(new) })
            #expect(log.contains { $0.action == "measurement-retired" && $0.detail.hasPrefix(new) })

            // A digest that is not one, and a caller without the operator key, are refused.
            #expect(try await Self.admin(fleet, operatorKey, "/admin/measurements/xyz/approve", post: [:]).status == 400)
            #expect(try await Self.admin(fleet, fleet.apiKey, "/admin/measurements").status == 401)
        }
    }
}
