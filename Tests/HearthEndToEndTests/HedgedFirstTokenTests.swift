import Foundation
import HearthCore
import HearthGateway
import NIOCore
import Testing

/// Hedging the first token: a request placed on a node predicted to be slow is raced on a faster one, which serves
/// it; the slow node's attempt is cancelled and the request is not counted as failed over.
@Suite struct HedgedFirstTokenTests {
    @Test func aHedgeServesTheFirstTokenWhenThePlacedNodeIsSlow() async throws {
        // "slow" predicts a 1 s prefill and never sends a token until cancelled; "fast" answers at once.
        let slow = TestEngine(prefillTokensPerSecond: 20) { request, gate, emit in
            try await gate.wait()
            for chunk in TestEngine.sse(words: ["too", " late"], request: request) { try await emit(chunk) }
        }
        let fast = TestEngine { request, _, emit in
            for chunk in TestEngine.sse(words: ["fast", " answer"], request: request) { try await emit(chunk) }
        }
        try await withTestFleet(
            nodes: [TestNodeSpec(id: "slow", engine: slow), TestNodeSpec(id: "fast", engine: fast)],
            configure: { configuration in
                // Round robin puts every other request on the slow node whatever it predicts; hedging at once
                // whenever the other node predicts faster.
                configuration.schedulingPolicy = .roundRobin
                configuration.hedging = HedgingPolicy(enabled: true, riskMargin: 10, delayFraction: 0)
            }
        ) { fleet in
            var requestIDs: [String] = []
            for _ in 0..<2 {
                let response = try await fleet.post(
                    json: chatBody(model: "test-model", stream: true, extra: ["metadata": ["task": "chat"]]))
                #expect(response.status == 200)
                #expect(response.streamedText == "fast answer")
                #expect(response.events.last == "[DONE]")
                // The race ends before the head goes out: the header names the node that served.
                #expect(response.headers["x-hearth-node"] == "fast")
                requestIDs.append(try #require(response.headers["x-request-id"]))
            }

            // Round robin puts one of the two on the slow node first (a hedge takes a turn too).
            let metrics = try await fleet.get("/metrics").body
            let won = metrics.split(separator: "\n").first { $0.hasPrefix(#"hearth_hedges_total{outcome="hedgeWon"}"#) }
            let hedges = try #require(won.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }.map { Int($0) })
            #expect(hedges >= 1)
            #expect(!metrics.contains(#"outcome="primaryWon""#))
            // Every attempt the slow node started was cancelled when the hedge sent first.
            var events = slow.events.makeAsyncIterator()
            for _ in 0..<hedges {
                #expect(await events.next() == .started(path: "/v1/chat/completions"))
                #expect(await events.next() == .cancelled)
            }

            try await fleet.gateway.ledger.flush()
            for requestID in requestIDs {
                let row = try #require(try await fleet.gateway.store.usage(requestID: requestID).first)
                #expect(row.nodeID == NodeID("fast"))
                #expect(row.attempts == 1)  // a hedge is not a failover
                #expect(row.outcome == .completed)
            }
        }
    }
}
