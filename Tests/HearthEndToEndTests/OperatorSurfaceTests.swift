import Foundation
import HearthCore
import HearthGateway
import HearthIdentity
import HearthNode
import HearthProtocol
import Logging
import NIOCore
import Testing

/// Issue 11: what only operators may see (/metrics), slow clients, and the identity layer's heartbeat clock.
@Suite struct OperatorSurfaceTests {
    @Test func metricsOnTheClientPortNeedTheOperatorKey() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: IdentityTests.echo())], identities: TestIdentities()) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let url = fleet.baseURL + "/metrics"
            let anonymous = try await sendHTTP(url: url, method: .GET, body: nil, apiKey: nil, headers: [], client: fleet.client)
            #expect(anonymous.status == 401)
            let tenant = try await sendHTTP(url: url, method: .GET, body: nil, apiKey: fleet.apiKey, headers: [], client: fleet.client)
            #expect(tenant.status == 401)
            #expect(!tenant.body.contains("n1"))
            let operatorKey = try await identity.createOperatorKey()
            let scrape = try await sendHTTP(url: url, method: .GET, body: nil, apiKey: operatorKey, headers: [], client: fleet.client)
            #expect(scrape.status == 200)
            #expect(scrape.body.contains("hearth_nodes_connected"))
            // The private listener (`--metrics-port`) asks for no key.
            let port = try #require(fleet.addresses.metricsPort)
            let privateScrape = try await sendHTTP(
                url: "http://127.0.0.1:\(port)/metrics", method: .GET, body: nil, apiKey: nil, headers: [], client: fleet.client)
            #expect(privateScrape.status == 200)
            #expect(privateScrape.body.contains("hearth_nodes_connected"))
        }
    }

    @Test func withoutIdentitiesTheClientPortServesNoMetricsAtAll() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: IdentityTests.echo())]) { fleet in
            let response = try await sendHTTP(
                url: fleet.baseURL + "/metrics", method: .GET, body: nil, apiKey: fleet.apiKey, headers: [], client: fleet.client)
            #expect(response.status == 401)
        }
    }

    /// Waits until the gateway closes `connection`; false if it still answers after `bound` (old code: never closed).
    static func closedByGateway(_ connection: RawConnection, within bound: Duration, trickle: Bool) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in connection.received {}
                return true
            }
            group.addTask {
                // The attacker's pace (and the test's give-up bound), not a wait for a result.
                let started = ContinuousClock.now
                while ContinuousClock.now - started < bound {
                    do { try await Task.sleep(for: .milliseconds(100)) } catch { return false }
                    if trickle { try? await connection.send(ByteBuffer(string: "X")) }
                }
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            connection.channel.close(promise: nil)
            return first
        }
    }

    @Test func slowClientsAreCutAfterTheIdleTimeoutButSlowAnswersAreNot() async throws {
        let gate = AsyncStream<Void>.makeStream()
        let engine = TestEngine { request, _, emit in
            for await _ in gate.stream { break }
            for chunk in TestEngine.sse(words: ["slow", "answer"], request: request) { try await emit(chunk) }
        }
        try await withTestFleet(
            nodes: [TestNodeSpec(id: "n1", engine: engine)], configure: { $0.clientIdleTimeout = .milliseconds(400) }
        ) { fleet in
            // An answer that takes longer than the idle timeout to start is the gateway's wait, not the client's.
            async let answer = fleet.post(json: chatBody(model: "test-model", stream: true))

            // Slowloris headers: a byte every 100 ms never completes the head; the connection is cut all the same.
            let headers = try await RawConnection.connect(host: "127.0.0.1", port: fleet.addresses.httpPort)
            try await headers.send(ByteBuffer(string: "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nX-Slow: "))
            #expect(await Self.closedByGateway(headers, within: .seconds(20), trickle: true))

            // A body that stops.
            let body = try await RawConnection.connect(host: "127.0.0.1", port: fleet.addresses.httpPort)
            try await body.send(
                ByteBuffer(
                    string: "POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer \(fleet.apiKey)\r\n"
                        + "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"model\":"))
            #expect(await Self.closedByGateway(body, within: .seconds(20), trickle: false))

            // Both were cut after at least one idle timeout: the waiting answer now completes intact.
            gate.continuation.yield()
            gate.continuation.finish()
            let response = try await answer
            #expect(response.status == 200)
            #expect(response.streamedText.contains("slow"))
            #expect(response.events.last == "[DONE]")
        }
    }

    @Test func theIdentityLayerCountsInTheGatewaysHeartbeatInterval() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-beat-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // What `hearth gateway` does: the identity opened with its defaults, the gateway with --heartbeat-ms 5000.
        let identity = try await GatewayIdentity.open(
            configuration: IdentityConfiguration(directory: directory), logger: Logger(label: "t"))
        var configuration = GatewayConfiguration()
        configuration.tunnel.heartbeatInterval = .seconds(5)
        configuration.tunnel.missedHeartbeatsBeforeDead = 3
        let store = try SQLiteFleetStore(path: directory + "/fleet.sqlite")
        _ = Gateway(configuration: configuration, store: store, identity: identity, logger: Logger(label: "t"))
        #expect(identity.missedHeartbeatTimeoutSeconds == 15)
    }

    @Test func aNodeThatHasNotSaidHelloYetIsNotQuarantinedForSilence() async throws {
        try await withTestFleet(
            nodes: [],
            configure: {
                $0.tunnel.heartbeatInterval = .milliseconds(50)
                $0.tunnel.missedHeartbeatsBeforeDead = 3
            },
            identities: TestIdentities(), waitForNodes: false
        ) { fleet in
            let identity = try #require(fleet.gateway.identity)
            let events = identity.auditEvents()
            // "late" enrolls first and is still starting (its engine loads on a busy machine): no hello yet.
            let late = EnrollmentHardeningTests.credentials("late")
            try await EnrollmentHardeningTests.enroll(
                late, token: try await identity.createEnrollmentToken(for: NodeID("late")), identity: identity)
            // "early" enrolls, says hello, and then falls silent.
            let early = EnrollmentHardeningTests.credentials("early")
            try await EnrollmentHardeningTests.enroll(
                early, token: try await identity.createEnrollmentToken(for: NodeID("early")), identity: identity)
            let silent = try await RawNode.connect(port: fleet.addresses.tunnelPort, tls: try IdentityTests.context(for: early.credentials))
            try await silent.send(.json(.hello, RawNode.hello(id: "early")))
            #expect(await IdentityTests.welcomed(silent))
            // The silent node is quarantined once its silence passes 3 × 50 ms; the one that never said hello is not,
            // although it has been quiet for longer.
            for await event in events where event.action == "quarantine" && event.node == NodeID("early") { break }
            #expect(EnrollmentHardeningTests.trust(of: "late", in: identity)?.trust == "trusted")
        }
    }
}
