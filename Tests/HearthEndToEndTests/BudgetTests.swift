import Foundation
import HearthCore
import HearthGateway
import NIOCore
import Synchronization
import Testing

/// Prices, spend and budgets (issue 16): each usage row's cost at the gateway's prices, a tenant refused with
/// `insufficient_quota` once its period's budget is spent and served again when the period starts over, and
/// `GET /v1/usage` giving the same figures as the ledger.
@Suite struct BudgetTests {
    /// A wall clock the test moves (budget periods are UTC days).
    final class WallClock: Sendable {
        private let time: Mutex<Date>
        init(_ start: Date) { time = Mutex(start) }
        var now: Date { time.withLock { $0 } }
        func advance(seconds: Double) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    /// 1,000 prompt and 500 completion tokens an answer, whatever was asked.
    static let engine = TestEngine { _, _, emit in
        let answer: [String: Any] = [
            "id": "c", "object": "chat.completion", "created": 1, "model": "test-model",
            "choices": [["index": 0, "finish_reason": "stop", "message": ["role": "assistant", "content": "ok"]]],
            "usage": ["prompt_tokens": 1_000, "completion_tokens": 500, "total_tokens": 1_500],
        ]
        try await emit(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: answer)))
    }

    @Test func aTenantIsRefusedOnceItsDailyBudgetIsSpentAndServedAgainTheNextDay() async throws {
        // 12:00 UTC on 2026-12-08.
        let clock = WallClock(Date(timeIntervalSince1970: 1_796_688_000 + 43_200))
        // Chat on test-model: $2 per million prompt tokens, $4 per million completion: 1,000 + 500 tokens cost $0.004.
        let prices = try PriceBook(
            json: Array(#"{"default": {"input": 0, "output": 0}, "models": {"test-model": {"input": 2, "output": 4}}}"#.utf8))
        try await withTestFleet(
            nodes: [TestNodeSpec(id: "node-0", engine: Self.engine)],
            configure: {
                $0.prices = prices
                $0.wallClock = { clock.now }
            }
        ) { fleet in
            // A budget of one cent a day: the third request spends it ($0.012 > $0.010), the fourth is refused.
            let body = chatBody(model: "test-model", maxTokens: 500, extra: ["metadata": ["task": "chat"]])
            let key = try await fleet.gateway.createAPIKey(
                for: TenantPolicy(tenant: "thrifty", budget: Budget(limitMicros: 10_000, period: .daily)))
            var ids: [String] = []
            for _ in 0..<3 {
                let answer = try await fleet.post(json: body, apiKey: key)
                #expect(answer.status == 200)
                ids.append(try #require(answer.headers["x-request-id"]))
            }
            let refused = try await fleet.post(json: body, apiKey: key)
            #expect(refused.status == 429)
            #expect(refused.error?["type"] as? String == "insufficient_quota")
            #expect(refused.error?["code"] as? String == "budget_exceeded")
            // Until 00:00 UTC: twelve hours.
            #expect(refused.headers["retry-after"] == "43200")
            #expect((refused.error?["message"] as? String)?.contains("$0.012000") == true)

            // The rows carry the cost and the key; /v1/usage sums the same rows (up to now, which is a second later).
            try await fleet.gateway.ledger.flush()
            clock.advance(seconds: 1)
            for id in ids {
                let row = try #require(try await fleet.gateway.store.usage(requestID: id).first)
                #expect(row.costMicros == 4_000)
                #expect(row.apiKeyID?.count == APIKeyRecord.idLength)
            }
            let usage = try await sendHTTP(
                url: fleet.baseURL + "/v1/usage?from=2026-12-08", method: .GET, body: nil, apiKey: key, headers: [], client: fleet.client)
            let document = try #require(usage.json)
            #expect(document["cost_usd"] as? Double == 0.012)
            let budget = try #require(document["budget"] as? [String: Any])
            #expect(budget["period"] as? String == "daily")
            #expect(budget["limit_usd"] as? Double == 0.01)
            #expect(budget["spent_usd"] as? Double == 0.012)
            #expect(budget["remaining_usd"] as? Double == 0)
            #expect(budget["resets_at"] as? String == "2026-12-09T00:00:00Z")
            let keys = try #require(document["keys"] as? [[String: Any]])
            #expect(keys.count == 1)
            #expect(keys.first?["cost_usd"] as? Double == 0.012)
            #expect(keys.first?["requests"] as? Int == 4)

            // A tenant without a budget is never refused for spend.
            let free = try await fleet.post(json: body)
            #expect(free.status == 200, "\(free.body)")

            // The next UTC day the budget starts over (after the cached spend's refresh interval).
            clock.advance(seconds: 43_200)
            let nextDay = try await fleet.post(json: body, apiKey: key)
            #expect(nextDay.status == 200, "\(nextDay.body)")
        }
    }
}
