import Foundation
import HearthCore
import HearthGateway
import HearthNode
import NIOCore
import Testing

/// A node that fails mid-answer: the client's stream finishes on another node, whole and without repeats.
@Suite struct FailoverTests {
    @Test func aStreamWhoseNodeIsLostFinishesOnAnotherNode() async throws {
        let stall = StallOnce()
        let engines = (0..<2).map { _ in TestEngine(behaviour: ContinuingAnswer.behaviour(stallAfter: 3, stall: stall)) }
        try await withTestFleet(nodes: engines.enumerated().map { TestNodeSpec(id: "node-\($0.offset)", engine: $0.element) }) { fleet in
            // Once the client has three words, cut the answering node's tunnel at the gateway.
            let answer = try await fleet.streamAndInterrupt(
                json: chatBody(model: "test-model", stream: true, maxTokens: 64), after: "word2"
            ) {
                node in
                try await fleet.gateway.registry.session(NodeID(node))?.channel.close()
            }
            let victim = NodeID(try #require(answer.headers["x-hearth-node"]))
            #expect(answer.status == 200)
            #expect(answer.headers["x-hearth-node"] == victim.rawValue)
            #expect(answer.streamedText == ContinuingAnswer.text)
            #expect(answer.events.filter { $0 == "[DONE]" }.count == 1)
            #expect(answer.events.allSatisfy { $0 == "[DONE]" || (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })

            try await fleet.gateway.ledger.flush()
            let requestID = try #require(answer.headers["x-request-id"])
            let row = try #require(try await fleet.gateway.store.usage(requestID: requestID).first)
            #expect(row.outcome == .completed)
            #expect(row.attempts == 2)
            #expect(row.failedOver)
            #expect(row.nodeID != victim)
            #expect(row.completionTokens == ContinuingAnswer.words.count)
        }
    }

    @Test func aStreamWhoseNodeGoesSilentMovesToAnotherNode() async throws {
        // The first answer's engine sends three words and then nothing, its tunnel staying up: a hung engine or a
        // link that holds bytes. Past the chat class's gap the gateway moves the stream.
        let stall = StallOnce()
        let engines = (0..<2).map { _ in TestEngine(behaviour: ContinuingAnswer.behaviour(stallAfter: 3, stall: stall)) }
        try await withTestFleet(
            nodes: engines.enumerated().map { TestNodeSpec(id: "node-\($0.offset)", engine: $0.element) },
            configure: { $0.stallLimits = StallDetector.Limits(interTokenSeconds: [.chat: 0.5]) }
        ) { fleet in
            let answer = try await fleet.post(
                json: chatBody(model: "test-model", stream: true, maxTokens: 64, extra: ["metadata": ["task": "chat"]]))
            #expect(answer.status == 200)
            #expect(answer.streamedText == ContinuingAnswer.text)
            #expect(answer.events.filter { $0 == "[DONE]" }.count == 1)

            try await fleet.gateway.ledger.flush()
            let requestID = try #require(answer.headers["x-request-id"])
            let row = try #require(try await fleet.gateway.store.usage(requestID: requestID).first)
            #expect(row.outcome == .completed)
            #expect(row.attempts == 2)
            #expect(row.nodeID?.rawValue != answer.headers["x-hearth-node"])
        }
    }

    @Test func aNonStreamedRequestIsRetriedWhenItsNodeFails() async throws {
        let answered = TestEngine { _, _, emit in
            for chunk in TestEngine.json(text: "fine") { try await emit(chunk) }
        }
        let failing = TestEngine { _, _, _ in throw EngineDown() }
        // Round robin places every other request on the failing node first; each must still succeed.
        let nodes = [TestNodeSpec(id: "bad", engine: failing), TestNodeSpec(id: "good", engine: answered)]
        try await withTestFleet(
            nodes: nodes,
            configure: {
                $0.schedulingPolicy = .roundRobin
                $0.retryBudget = RetryBudget.Configuration(ratio: 1, minRetriesPerSecond: 10)
            }
        ) { fleet in
            var retried = 0
            for _ in 0..<6 {
                let response = try await fleet.post(json: chatBody(model: "test-model"))
                #expect(response.status == 200, "\(response.body)")
                #expect(response.headers["x-hearth-node"] == "good")
                try await fleet.gateway.ledger.flush()
                let requestID = try #require(response.headers["x-request-id"])
                let row = try #require(try await fleet.gateway.store.usage(requestID: requestID).first)
                #expect(row.nodeID == NodeID("good"))
                #expect(row.outcome == .completed)
                if row.attempts == 2 { retried += 1 }
            }
            #expect(retried >= 2)
        }
    }

    struct EngineDown: Error {}
}
