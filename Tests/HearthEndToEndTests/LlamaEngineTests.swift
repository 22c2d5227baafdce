import AsyncHTTPClient
import Foundation
import HearthCore
import HearthGateway
import HearthNode
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The whole path with the real engine: client → gateway → tunnel → agent → llama-server (SmolLM2).
@Suite("End to end with llama-server", .serialized)
struct LlamaEngineTests {
    @Test("a streamed answer arrives token by token and matches the engine's own answer at temperature 0")
    func streamMatchesDirect() async throws {
        try await LlamaSupport.withClient { engineClient in
            let (node, engine) = try LlamaSupport.node(id: "llama-1", client: engineClient)
            var lifecycle = engine.lifecycleEvents.makeAsyncIterator()
            try await withTestFleet(nodes: [node]) { fleet in
                guard case .started(_, let port) = await lifecycle.next() else { Issue.record("engine did not start"); return }
                let body = chatBody(
                    model: LlamaSupport.modelName,
                    content: "Name three colours.",
                    stream: true,
                    maxTokens: 24,
                    extra: ["cache_prompt": false, "seed": 1]
                )
                let direct = try await sendHTTP(
                    url: "http://127.0.0.1:\(port)/v1/chat/completions",
                    method: .POST,
                    body: try JSONSerialization.data(withJSONObject: body),
                    apiKey: nil,
                    headers: [],
                    client: fleet.client
                )
                let relayed = try await fleet.post(json: body)
                #expect(relayed.status == 200)
                #expect(relayed.headers["x-hearth-node"] == "llama-1")
                #expect(!relayed.streamedText.isEmpty)
                #expect(relayed.streamedText == direct.streamedText)
                // Token by token: many events, delivered in many socket reads rather than one buffered body.
                #expect(relayed.events.count > 5)
                #expect(relayed.parts > 3)
                #expect(relayed.events.last == "[DONE]")

                try await fleet.gateway.ledger.flush()
                let rows = try await fleet.gateway.store.usage(requestID: try #require(relayed.headers["x-request-id"]))
                #expect(rows.count == 1)
                #expect(rows.first?.usageReportedByEngine == true)
                #expect((rows.first?.completionTokens ?? 0) > 0)
                #expect((rows.first?.promptTokens ?? 0) > 0)
            }
        }
    }

    @Test("two dozen concurrent streams on two llama nodes all complete")
    func concurrentStreams() async throws {
        try await LlamaSupport.withClient { engineClient in
            let (first, _) = try LlamaSupport.node(id: "llama-1", slots: 4, client: engineClient)
            let (second, _) = try LlamaSupport.node(id: "llama-2", slots: 4, client: engineClient)
            // Eight slots on two single-thread CPU engines cannot start 24 answers within a chat's 1 s target;
            // an operator of such a fleet sets a lenient target, and then every stream must complete.
            try await withTestFleet(
                nodes: [first, second],
                configure: { $0.classTargets.chat = .init(ttftSeconds: 120, tpotSeconds: 1) }
            ) { fleet in
                let results = try await withThrowingTaskGroup(of: (Int, String, String?).self) { group in
                    for index in 0..<24 {
                        group.addTask {
                            let response = try await fleet.post(
                                json: chatBody(
                                    model: LlamaSupport.modelName, content: "Count to \(index % 5 + 2).", stream: true, maxTokens: 8)
                            )
                            return (response.status, response.streamedText, response.headers["x-hearth-node"])
                        }
                    }
                    return try await group.reduce(into: [(Int, String, String?)]()) { $0.append($1) }
                }
                #expect(results.count == 24)
                #expect(results.allSatisfy { $0.0 == 200 && !$0.1.isEmpty })
                // Where they ran is the scheduler's call (calibration on a busy box may rate one node slower).
                #expect(Set(results.compactMap(\.2)).isSubset(of: ["llama-1", "llama-2"]))
                try await fleet.gateway.ledger.flush()
                #expect(try await fleet.gateway.store.usageCount() == 24)
            }
        }
    }

    @Test("a client that disconnects mid-stream stops the engine's generation within a second")
    func disconnectStopsEngine() async throws {
        try await LlamaSupport.withClient { engineClient in
            let (node, engine) = try LlamaSupport.node(id: "llama-1", slots: 1, client: engineClient)
            var lifecycle = engine.lifecycleEvents.makeAsyncIterator()
            try await withTestFleet(nodes: [node]) { fleet in
                guard case .started(_, let port) = await lifecycle.next() else { Issue.record("engine did not start"); return }
                let body = try JSONSerialization.data(
                    withJSONObject: chatBody(
                        model: LlamaSupport.modelName,
                        content: "Write a very long story.",
                        stream: true,
                        maxTokens: 1500,
                        // A long answer would otherwise be code, whose 50 ms/token target a loaded CI box may miss.
                        extra: ["metadata": ["task": "chat"]]
                    )
                )
                let connection = try await RawConnection.connect(host: "127.0.0.1", port: fleet.addresses.httpPort)
                var request = ByteBuffer(
                    string: "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(fleet.apiKey)\r\n")
                request.writeString("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
                request.writeBytes(body)
                try await connection.send(request)
                let firstPart = await connection.read(until: "delta")
                try #require(firstPart.hasPrefix("HTTP/1.1 200"), "\(firstPart)")
                #expect(try await Self.processing(port: port, client: fleet.client) == 1)
                try await connection.close()
                let closed = ContinuousClock.now
                // llama-server offers no event to await: read its own metrics until the slot is idle.
                while try await Self.processing(port: port, client: fleet.client) != 0 {
                    try #require(ContinuousClock.now - closed < .seconds(1), "the engine kept generating after the client left")
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await fleet.gateway.ledger.flush()
                let rows = try await fleet.gateway.store.usageCount()
                #expect(rows == 1)
            }
        }
    }

    @Test("the agent restarts an engine process that dies")
    func restartsDeadEngine() async throws {
        try await LlamaSupport.withClient { engineClient in
            let (node, engine) = try LlamaSupport.node(id: "llama-1", client: engineClient)
            var lifecycle = engine.lifecycleEvents.makeAsyncIterator()
            try await withTestFleet(nodes: [node]) { fleet in
                guard case .started(let pid, _) = await lifecycle.next() else { Issue.record("engine did not start"); return }
                kill(pid, SIGKILL)
                #expect(await lifecycle.next() == .exited(status: SIGKILL))
                guard case .started(let newPID, _) = await lifecycle.next() else { Issue.record("engine did not restart"); return }
                #expect(newPID != pid)
                #expect(engine.restarts == 1)
                let response = try await fleet.post(json: chatBody(model: LlamaSupport.modelName, maxTokens: 4))
                #expect(response.status == 200)
            }
        }
    }

    /// Requests the engine is processing now, from its Prometheus metrics.
    static func processing(port: Int, client: HTTPClient) async throws -> Int {
        let metrics = try await sendHTTP(
            url: "http://127.0.0.1:\(port)/metrics", method: .GET, body: nil, apiKey: nil, headers: [], client: client)
        for line in metrics.body.split(separator: "\n") where line.hasPrefix("llamacpp:requests_processing ") {
            return Int(Double(line.split(separator: " ").last ?? "0") ?? 0)
        }
        throw LlamaSupport.MissingEngine(message: "llama-server /metrics has no llamacpp:requests_processing")
    }
}
