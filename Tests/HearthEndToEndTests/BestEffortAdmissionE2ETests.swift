import Foundation
import HearthCore
import HearthGateway
import Testing

/// Issue 12's first promise on the gateway: a request that no node can serve within its class target is served best
/// effort (slots respected, a bounded wait, the miss stated), not refused; a client that asks for strict targets gets
/// the refusal.
@Suite struct BestEffortAdmissionE2ETests {
    /// 100 prompt tokens a second: a 5,000-character chat prompt (about 1,250 tokens) takes 12 s, far past the 1 s target.
    static func slowEngine(slots: Int = 2) -> TestEngine {
        TestEngine(slots: slots, prefillTokensPerSecond: 100) { request, gate, emit in
            if request.body.readableBytesView.contains(UInt8(ascii: "!")) { try await gate.wait() }
            for chunk in request.stream
                ? TestEngine.sse(words: ["slow", "but", "served"], request: request) : TestEngine.json(text: "served")
            {
                try await emit(chunk)
            }
        }
    }

    static let longPrompt = String(repeating: "word ", count: 1_000)

    @Test("a prompt too long for any node's target is served best effort; strict asks get 503; a bad policy is 400")
    func unreachableTargetIsServedBestEffort() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "slow", engine: Self.slowEngine())]) { fleet in
            let served = try await fleet.post(json: chatBody(model: "test-model", content: Self.longPrompt))
            #expect(served.status == 200, "\(served.body)")
            #expect(served.headers["x-hearth-slo"] == "best-effort")
            #expect(served.headers["x-hearth-decision"]?.hasPrefix("best effort") == true)

            let strict = try await fleet.post(
                json: chatBody(model: "test-model", content: Self.longPrompt), headers: [("X-Hearth-SLO-Policy", "strict")])
            #expect(strict.status == 503, "\(strict.body)")

            let wrong = try await fleet.post(json: chatBody(model: "test-model"), headers: [("X-Hearth-SLO-Policy", "maybe")])
            #expect(wrong.status == 400)
            #expect(wrong.error?["param"] as? String == "X-Hearth-SLO-Policy")

            let short = try await fleet.post(json: chatBody(model: "test-model"))
            #expect(short.headers["x-hearth-slo"] == "target")
            #expect(String(decoding: fleet.gateway.metrics.render(), as: UTF8.self).contains("hearth_best_effort_total{class=\"chat\"} 1"))
        }
    }

    @Test("metadata.slo_policy and the tenant's policy choose strict or best effort; the header wins; the usage row says which")
    func policyFromMetadataAndTenant() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "slow", engine: Self.slowEngine())]) { fleet in
            let long = chatBody(model: "test-model", content: Self.longPrompt)
            let strictByMetadata = try await fleet.post(
                json: chatBody(
                    model: "test-model", content: Self.longPrompt, extra: ["metadata": ["slo_policy": "strict"]]))
            #expect(strictByMetadata.status == 503, "\(strictByMetadata.body)")
            let badMetadata = try await fleet.post(json: chatBody(model: "test-model", extra: ["metadata": ["slo_policy": 7]]))
            #expect(badMetadata.status == 400)
            #expect(badMetadata.error?["param"] as? String == "metadata.slo_policy")

            // A strict tenant is refused by default, and served when one request asks for best effort.
            let strictKey = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "strict-tenant", sloPolicy: .strict))
            let refused = try await fleet.post(json: long, apiKey: strictKey)
            #expect(refused.status == 503, "\(refused.body)")
            let servedByHeader = try await fleet.post(json: long, apiKey: strictKey, headers: [("X-Hearth-SLO-Policy", "best-effort")])
            #expect(servedByHeader.status == 200, "\(servedByHeader.body)")
            #expect(servedByHeader.headers["x-hearth-slo"] == "best-effort")
            let servedByMetadata = try await fleet.post(
                json: chatBody(model: "test-model", content: Self.longPrompt, extra: ["metadata": ["slo_policy": "best-effort"]]),
                apiKey: strictKey)
            #expect(servedByMetadata.status == 200, "\(servedByMetadata.body)")

            // The usage row records how each request was placed.
            let short = try await fleet.post(json: chatBody(model: "test-model"))
            try await fleet.gateway.ledger.flush()
            func row(_ response: CollectedResponse) async throws -> UsageRecord {
                let id = try #require(response.headers["x-request-id"])
                return try #require(try await fleet.gateway.store.usage(requestID: id).first)
            }
            let bestEffortRow = try await row(servedByHeader)
            #expect(bestEffortRow.slo == "best-effort")
            let targetRow = try await row(short)
            #expect(targetRow.slo == "target")
            let refusedRow = try await row(refused)
            #expect(refusedRow.slo == nil)
            #expect(refusedRow.outcome == .refused)
        }
    }

    @Test("concurrent best-effort streams take the node's slots in turn: none is refused")
    func concurrentStreamsWaitForSlotsInsteadOf429() async throws {
        let engine = Self.slowEngine(slots: 2)
        try await withTestFleet(nodes: [TestNodeSpec(id: "slow", engine: engine)]) { fleet in
            let requests = 6
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<requests {
                    group.addTask {
                        try await fleet.post(json: chatBody(model: "test-model", content: Self.longPrompt + "!", stream: true)).status
                    }
                }
                // Two hold the node's two slots; the other four wait for one, none is refused.
                var events = engine.events.makeAsyncIterator()
                for _ in 0..<2 { _ = await events.next() }
                await fleet.gateway.registry.scheduler.waitUntilQueued(requests - 2)
                engine.gate.open()
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: requests))
        }
    }
}
