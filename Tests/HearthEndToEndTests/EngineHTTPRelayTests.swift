import Foundation
import HearthCore
import HearthGateway
import HearthNode
import NIOCore
import Synchronization
import Testing

/// The node's event-loop relay to an HTTP engine (``EngineHTTPTarget``), through a real gateway and tunnel: answers
/// longer than the stream window arrive whole, connections are kept alive and reused, an engine that dies mid-answer
/// fails over, and a client that walks away closes the engine's connection.
@Suite struct EngineHTTPRelayTests {
    static func chunk(_ text: String) -> String {
        #"data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\#(text)"}}]}"# + "\n\n"
    }

    static let completion =
        #"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"fine"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}"#

    @Test func anAnswerLongerThanTheStreamWindowArrivesWholeAndInOrder() async throws {
        // 2.5 MiB of events against a 1 MiB window: the node must hold what it read and wait for the gateway's grants.
        let pieces = (0..<160).map { "p\($0)-" + String(repeating: "x", count: 16_000) }
        let engine = try await ScriptedHTTPEngine.start { _, responder in
            try await responder.head()
            for piece in pieces { try await responder.send(Self.chunk(piece)) }
            try await responder.send("data: [DONE]\n\n")
            try await responder.end()
        }
        defer { Task { await engine.stop() } }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: engine.engine())]) { fleet in
            let answer = try await fleet.post(json: chatBody(model: "test-model", stream: true))
            #expect(answer.status == 200)
            #expect(answer.streamedText == pieces.joined())
            #expect(answer.events.filter { $0 == "[DONE]" }.count == 1)
        }
    }

    @Test func requestsInTurnShareOneKeepAliveConnectionAndReportTheEngineUsage() async throws {
        let engine = try await ScriptedHTTPEngine.start { _, responder in
            try await responder.head(contentType: "application/json")
            try await responder.send(Self.completion)
            try await responder.end()
        }
        defer { Task { await engine.stop() } }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: engine.engine())]) { fleet in
            var connections: Set<Int> = []
            var requestIDs: [String] = []
            var events = engine.events.makeAsyncIterator()
            for _ in 0..<5 {
                let answer = try await fleet.post(json: chatBody(model: "test-model"))
                #expect(answer.status == 200)
                #expect(answer.body.contains(#""content":"fine""#))
                requestIDs.append(try #require(answer.headers["x-request-id"]))
                if case .request(_, let connection) = await ScriptedHTTPEngine.next(
                    in: &events, where: { if case .request = $0 { true } else { false } })
                {
                    connections.insert(connection)
                }
            }
            #expect(connections == [1])
            try await fleet.gateway.ledger.flush()
            for requestID in requestIDs {
                let row = try #require(try await fleet.gateway.store.usage(requestID: requestID).first)
                #expect(row.promptTokens == 7 && row.completionTokens == 3)
            }
        }
    }

    @Test func anEngineThatClosesEachConnectionAfterItsAnswerStillServesEveryRequest() async throws {
        // The engine says keep-alive and then closes anyway, as a server whose idle timeout fires does: the node
        // must never fail a request on a connection the engine has let go.
        let engine = try await ScriptedHTTPEngine.start { _, responder in
            try await responder.head(contentType: "application/json")
            try await responder.send(Self.completion)
            try await responder.end()
            await responder.hangUp()
        }
        defer { Task { await engine.stop() } }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: engine.engine())]) { fleet in
            for _ in 0..<4 {
                let answer = try await fleet.post(json: chatBody(model: "test-model"))
                #expect(answer.status == 200, "\(answer.body)")
            }
        }
    }

    @Test func anEngineThatClosesItsConnectionMidAnswerFailsOverToAnotherNode() async throws {
        let firstAnswer = Mutex(true)
        let script: ScriptedHTTPEngine.Script = { _, responder in
            let isFirst = firstAnswer.withLock { first in
                defer { first = false }
                return first
            }
            try await responder.head()
            if isFirst {
                try await responder.send(Self.chunk("alpha "))
                try await responder.send(Self.chunk("beta "))
                await responder.hangUp()
                return
            }
            try await responder.send(Self.chunk("gamma"))
            try await responder.send("data: [DONE]\n\n")
            try await responder.end()
        }
        let engines = [try await ScriptedHTTPEngine.start(script), try await ScriptedHTTPEngine.start(script)]
        defer { Task { for engine in engines { await engine.stop() } } }
        let nodes = engines.enumerated().map { TestNodeSpec(id: "n\($0.offset)", engine: $0.element.engine()) }
        try await withTestFleet(nodes: nodes) { fleet in
            let answer = try await fleet.post(json: chatBody(model: "test-model", stream: true, maxTokens: 64))
            #expect(answer.status == 200)
            #expect(answer.streamedText == "alpha beta gamma")
            #expect(answer.events.filter { $0 == "[DONE]" }.count == 1)
            try await fleet.gateway.ledger.flush()
            let requestID = try #require(answer.headers["x-request-id"])
            let row = try #require(try await fleet.gateway.store.usage(requestID: requestID).first)
            #expect(row.outcome == .completed)
            #expect(row.attempts == 2)
            #expect(row.failedOver)
        }
    }

    @Test func aClientThatWalksAwayClosesTheEngineConnection() async throws {
        // One word, then the engine would write for ever: only closing its connection ends the answer.
        let (never, _) = AsyncStream<Void>.makeStream()
        let engine = try await ScriptedHTTPEngine.start { _, responder in
            try await responder.head()
            try await responder.send(Self.chunk("first"))
            for await _ in never {}
        }
        defer { Task { await engine.stop() } }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n1", engine: engine.engine())]) { fleet in
            let connection = try await fleet.sendRawStreamingRequest()
            let firstPart = await connection.read(until: "first")
            #expect(firstPart.hasPrefix("HTTP/1.1 200"))
            var events = engine.events.makeAsyncIterator()
            let started = await ScriptedHTTPEngine.next(in: &events) { if case .request = $0 { true } else { false } }
            guard case .request(_, let engineConnection) = started else {
                Issue.record("the engine saw no request")
                return
            }
            try await connection.close()
            let closed = await ScriptedHTTPEngine.next(in: &events) { $0 == .closed(connection: engineConnection) }
            #expect(closed == .closed(connection: engineConnection))
        }
    }
}
