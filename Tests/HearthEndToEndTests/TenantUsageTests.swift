import Foundation
import HearthCore
import HearthGateway
import Testing

/// Issue 16: `GET /v1/usage?from=&to=` gives a tenant, with its own key, the ledger's own figures for it, and only its.
@Suite struct TenantUsageTests {
    @Test func aTenantReadsItsOwnUsageAndTheFiguresAreTheLedgers() async throws {
        let engine = TestEngine { request, _, emit in
            for chunk in TestEngine.sse(words: ["one", "two", "three"], request: request) { try await emit(chunk) }
        }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: engine)]) { fleet in
            let acme = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "acme"))
            let other = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "other"))
            var ids: [String] = []
            for stream in [false, true, false] {
                let answer = try await fleet.post(json: chatBody(model: "test-model", stream: stream), apiKey: acme)
                #expect(answer.status == 200)
                ids.append(try #require(answer.headers["x-request-id"]))
            }
            _ = try await fleet.post(json: chatBody(model: "test-model"), apiKey: other)
            let refused = try await fleet.post(json: chatBody(model: "no-such-model"), apiKey: acme)
            #expect(refused.status == 404)
            try await fleet.gateway.ledger.flush()

            let from = Int(Date().timeIntervalSince1970) - 3_600
            let usage = try await sendHTTP(
                url: fleet.baseURL + "/v1/usage?from=\(from)", method: .GET, body: nil, apiKey: acme, headers: [], client: fleet.client)
            #expect(usage.status == 200, "\(usage.body)")
            let document = try #require(usage.json)
            #expect(document["object"] as? String == "usage" && document["tenant"] as? String == "acme")
            // The ledger's rows for this tenant's requests, summed: the same figures.
            var rows: [UsageRecord] = []
            for id in ids { rows += try await fleet.gateway.store.usage(requestID: id) }
            #expect(document["prompt_tokens"] as? Int == rows.reduce(0) { $0 + $1.promptTokens })
            #expect(document["completion_tokens"] as? Int == rows.reduce(0) { $0 + $1.completionTokens })
            #expect(document["requests"] as? Int == 4, "three served and one refused, not the other tenant's")
            #expect((document["outcomes"] as? [String: Int]) == ["completed": 3, "refused": 1])
            let models = try #require(document["models"] as? [[String: Any]])
            #expect(Set(models.compactMap { $0["model"] as? String }) == ["test-model", "no-such-model"])

            // Nothing without a key; a bad range is a 400 naming the parameter.
            let anonymous = try await sendHTTP(
                url: fleet.baseURL + "/v1/usage", method: .GET, body: nil, apiKey: nil, headers: [], client: fleet.client)
            #expect(anonymous.status == 401)
            for query in ["from=yesterday", "from=2026-12-02&to=2026-12-01", "from=2020-01-01&to=2026-01-01"] {
                let bad = try await sendHTTP(
                    url: fleet.baseURL + "/v1/usage?\(query)", method: .GET, body: nil, apiKey: acme, headers: [], client: fleet.client)
                #expect(bad.status == 400 && bad.error?["param"] as? String == "from", "\(query): \(bad.body)")
            }
        }
    }
}
