import Foundation
import HearthCore
import HearthGateway
import HearthNode
import NIOCore
import Testing

/// Drain instead of drop (issue 14): a gateway told to stop refuses new requests at once, lets the ones in flight
/// finish on their nodes, and stops when they have or when its drain time is over.
@Suite struct GatewayDrainTests {
    @Test func aReplicaIsReadyBeforeAnyNodeHasDialledIt() async throws {
        try await withTestFleet(nodes: [], waitForNodes: false) { fleet in
            let ready = try await fleet.get("/readyz")
            #expect(ready.status == 200)
            #expect(ready.body == "ready: 0 nodes\n")
        }
    }

    @Test func aStreamInFlightFinishesWhileTheGatewayRefusesNewRequests() async throws {
        let engine = TestEngine { request, gate, emit in
            let chunks = TestEngine.sse(words: ["first", " second", " third"], request: request)
            try await emit(chunks[0])
            try await gate.wait()
            for chunk in chunks.dropFirst() { try await emit(chunk) }
        }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: engine)], nodesOutliveTheGateway: true) { fleet in
            let answer = try await fleet.streamAndInterrupt(json: chatBody(model: "test-model", stream: true), after: "first") { _ in
                await fleet.shutDown()
                await fleet.gateway.admission.drainBegan()
                let ready = try await fleet.get("/readyz")
                #expect(ready.status == 503)
                let refused = try await fleet.post(json: chatBody(model: "test-model"))
                #expect(refused.status == 503)
                #expect(refused.error?["code"] as? String == "gateway_draining")
                #expect(refused.headers["retry-after"] != nil)
                engine.gate.open()
            }
            #expect(answer.status == 200)
            #expect(answer.streamedText == "first second third")
            #expect(answer.events.filter { $0 == "[DONE]" }.count == 1)
            try await fleet.gateway.ledger.flush()
            let requestID = try #require(answer.headers["x-request-id"])
            let row = try #require(try await fleet.gateway.store.usage(requestID: requestID).first)
            #expect(row.outcome == .completed)
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func theDrainEndsWhenItsTimeIsOverEvenIfAStreamIsStillRunning() async throws {
        // The engine sends one word and then nothing, ever: only the end of the drain stops the stream.
        let engine = TestEngine { request, gate, emit in
            try await emit(TestEngine.sse(words: ["first"], request: request)[0])
            try await gate.wait()
        }
        try await withTestFleet(
            nodes: [TestNodeSpec(id: "n1", engine: engine)], configure: { $0.drainTime = .milliseconds(300) }, nodesOutliveTheGateway: true
        ) {
            fleet in
            let answer = try? await fleet.streamAndInterrupt(json: chatBody(model: "test-model", stream: true), after: "first") { _ in
                await fleet.shutDown()
                await fleet.gateway.admission.drainBegan()
            }
            // Cut: the gateway closed the client's connection (the read fails) or the answer has no end.
            if let answer { #expect(!answer.events.contains("[DONE]")) }
            // The cut request is settled like a hang-up: its usage row is written, the replica holds nothing in flight.
            await fleet.gateway.admission.idle()
            try await fleet.gateway.ledger.flush()
            #expect(try await fleet.gateway.store.usageCount() == 1)
            #expect(fleet.gateway.admission.isDraining)
        }
    }
}
