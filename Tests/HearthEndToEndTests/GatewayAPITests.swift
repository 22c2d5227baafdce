import AsyncHTTPClient
import Foundation
import HearthCore
import HearthGateway
import HearthNode
import NIOCore
import Testing

@Suite("Gateway OpenAI API over real tunnels")
struct GatewayAPITests {
    static func echoEngine(model: String = "test-model") -> TestEngine {
        TestEngine(model: model) { request, _, emit in
            let chunks =
                request.stream
                ? TestEngine.sse(words: ["Hello", " from", " a", " node"], request: request) : TestEngine.json(text: "Hello")
            for chunk in chunks { try await emit(chunk) }
        }
    }

    @Test("a non-streamed answer comes back with the node and class headers, and one usage row")
    func nonStreamed() async throws {
        try await withTestFleet(nodes: [.init(id: "n1", engine: Self.echoEngine())]) { fleet in
            let response = try await fleet.post(json: chatBody(model: "test-model"))
            #expect(response.status == 200)
            let choices = try #require(response.json?["choices"] as? [[String: Any]])
            #expect((choices.first?["message"] as? [String: Any])?["content"] as? String == "Hello")
            #expect(response.headers["x-hearth-node"] == "n1")
            #expect(response.headers["x-hearth-class"] == "chat")
            let requestID = try #require(response.headers["x-request-id"])
            try await fleet.gateway.ledger.flush()
            let rows = try await fleet.gateway.store.usage(requestID: requestID)
            #expect(rows.count == 1)
            #expect(rows.first?.outcome == .completed)
            #expect(rows.first?.promptTokens == 5)
            #expect(rows.first?.completionTokens == 2)
            #expect(rows.first?.usageReportedByEngine == true)
            #expect(rows.first?.tenant == "tenant-a")
        }
    }

    @Test("a streamed answer relays every event; the usage chunk reaches the client only when asked for")
    func streamedUsage() async throws {
        try await withTestFleet(nodes: [.init(id: "n1", engine: Self.echoEngine())]) { fleet in
            let plain = try await fleet.post(json: chatBody(model: "test-model", stream: true))
            #expect(plain.status == 200)
            #expect(plain.headers["content-type"]?.hasPrefix("text/event-stream") == true)
            #expect(plain.streamedText == "Hello from a node")
            #expect(plain.events.last == "[DONE]")
            #expect(!plain.body.contains("\"usage\""))

            let withUsage = try await fleet.post(
                json: chatBody(model: "test-model", stream: true, extra: ["stream_options": ["include_usage": true]])
            )
            #expect(withUsage.streamedText == "Hello from a node")
            #expect(withUsage.body.contains("\"completion_tokens\":4"))

            try await fleet.gateway.ledger.flush()
            for response in [plain, withUsage] {
                let rows = try await fleet.gateway.store.usage(requestID: try #require(response.headers["x-request-id"]))
                #expect(rows.count == 1)
                #expect(rows.first?.completionTokens == 4)
                #expect(rows.first?.promptTokens == 7)
                #expect(rows.first?.timeToFirstTokenMilliseconds != nil)
            }
        }
    }

    @Test("/v1/completions is relayed too")
    func legacyCompletions() async throws {
        try await withTestFleet(nodes: [.init(id: "n1", engine: Self.echoEngine())]) { fleet in
            let response = try await fleet.post("/v1/completions", json: ["model": "test-model", "prompt": "Once upon", "max_tokens": 4])
            #expect(response.status == 200)
        }
    }

    @Test("errors use OpenAI's body and the documented status")
    func errors() async throws {
        try await withTestFleet(
            nodes: [.init(id: "n1", engine: Self.echoEngine())],
            configure: { $0.maximumBodyBytes = 4096 }
        ) { fleet in
            func expectError(_ response: CollectedResponse, status: Int, param: String? = nil, code: String? = nil) {
                #expect(response.status == status)
                #expect(response.headers["content-type"] == "application/json")
                let error = response.error
                #expect(error?["message"] is String)
                #expect(error?["type"] is String)
                if let param { #expect(error?["param"] as? String == param) }
                if let code { #expect(error?["code"] as? String == code) }
            }
            expectError(
                try await fleet.post("/v1/chat/completions", body: Data("{not json".utf8), apiKey: fleet.apiKey), status: 400,
                code: "invalid_json")
            expectError(try await fleet.post(json: ["messages": [["role": "user", "content": "x"]]]), status: 400, param: "model")
            expectError(try await fleet.post(json: ["model": "test-model"]), status: 400, param: "messages")
            expectError(try await fleet.post(json: ["model": "test-model", "messages": []]), status: 400, param: "messages")
            expectError(
                try await fleet.post(json: ["model": "test-model", "messages": [["role": "wizard", "content": "x"]]]),
                status: 400,
                param: "messages[0].role"
            )
            expectError(
                try await fleet.post(json: chatBody(model: "test-model", extra: ["temperature": 7])), status: 400, param: "temperature")
            expectError(
                try await fleet.post(json: chatBody(model: "test-model", extra: ["max_tokens": "many"])), status: 400, param: "max_tokens")
            expectError(try await fleet.post(json: chatBody(model: "test-model", extra: ["stream": "yes"])), status: 400, param: "stream")
            expectError(
                try await fleet.post(json: chatBody(model: "test-model", extra: ["metadata": ["task": "poetry"]])),
                status: 400,
                param: "metadata.task"
            )
            expectError(try await fleet.post(json: chatBody(model: "test-model"), apiKey: "wrong"), status: 401, code: "invalid_api_key")
            expectError(
                try await fleet.post(
                    "/v1/chat/completions", body: try JSONSerialization.data(withJSONObject: chatBody(model: "test-model")), apiKey: nil),
                status: 401
            )
            expectError(try await fleet.post(json: chatBody(model: "no-such-model")), status: 404, param: "model", code: "model_not_found")
            let big = chatBody(model: "test-model", content: String(repeating: "x", count: 10_000))
            expectError(try await fleet.post(json: big), status: 413, code: "request_too_large")

            // Every authenticated request leaves exactly one usage row, refused ones included.
            try await fleet.gateway.ledger.flush()
            #expect(try await fleet.gateway.store.usageCount() == 11)
        }
    }

    @Test("503 with Retry-After when no node is connected")
    func noNodes() async throws {
        try await withTestFleet(nodes: []) { fleet in
            let response = try await fleet.post(json: chatBody(model: "test-model"))
            #expect(response.status == 503)
            #expect(response.headers["retry-after"] != nil)
            #expect(response.error?["code"] as? String == "no_node_available")
            // Ready all the same: a replica takes requests before nodes dial it (GatewayDrainTests).
            let ready = try await fleet.get("/readyz")
            #expect(ready.status == 200)
        }
    }

    @Test("a strict request no node can serve within its target waits in the queue, then gets 429 with Retry-After")
    func saturated() async throws {
        // 50 ms a token: a running answer holds the only slot for about 13 s, far past a chat's 1 s target.
        let blocking = TestEngine(slots: 1, decodeStepSeconds: 0.05) { request, gate, emit in
            try await gate.wait()
            for chunk in TestEngine.json(text: "late") { try await emit(chunk) }
        }
        try await withTestFleet(nodes: [.init(id: "n1", engine: blocking)]) { fleet in
            var events = blocking.events.makeAsyncIterator()
            async let holder = fleet.post(json: chatBody(model: "test-model"))
            _ = await events.next()  // the node's only slot is taken, for as long as the gate stays shut
            let started = ContinuousClock.now
            let refused = try await fleet.post(json: chatBody(model: "test-model"), headers: [("X-Hearth-SLO-Policy", "strict")])
            #expect(refused.status == 429)
            #expect(refused.headers["retry-after"] != nil)
            #expect(refused.error?["type"] as? String == "rate_limit_error")
            // It was held while the 1 s chat target could still be met, and no longer.
            #expect(ContinuousClock.now - started < .seconds(5))
            blocking.gate.open()
            #expect(try await holder.status == 200)
        }
    }

    @Test("a queued request is placed as soon as a slot frees")
    func queuedThenPlaced() async throws {
        let blocking = TestEngine(slots: 1, decodeStepSeconds: 0.05) { request, gate, emit in
            try await gate.wait()
            for chunk in TestEngine.json(text: "done") { try await emit(chunk) }
        }
        try await withTestFleet(nodes: [.init(id: "n1", engine: blocking)]) { fleet in
            var events = blocking.events.makeAsyncIterator()
            async let first = fleet.post(json: chatBody(model: "test-model"))
            _ = await events.next()
            async let second = fleet.post(json: chatBody(model: "test-model"))
            await fleet.gateway.registry.scheduler.waitUntilQueued(1)
            blocking.gate.open()  // the first finishes; the second, queued, takes its slot
            let statuses = try await [first.status, second.status]
            #expect(statuses == [200, 200])
        }
    }

    @Test("a client that disconnects mid-stream cancels the engine request")
    func disconnectCancels() async throws {
        // One token, then the engine waits for ever: only a cancellation ends the request.
        let endless = TestEngine { request, gate, emit in
            try await emit(TestEngine.sse(words: ["first"], request: request)[0])
            try await gate.wait()
        }
        try await withTestFleet(nodes: [.init(id: "n1", engine: endless)]) { fleet in
            let connection = try await fleet.sendRawStreamingRequest()
            let firstPart = await connection.read(until: "first")
            #expect(firstPart.hasPrefix("HTTP/1.1 200"))
            try await connection.close()  // the client walks away mid-stream

            var events = endless.events.makeAsyncIterator()
            #expect(await events.next() == .started(path: "/v1/chat/completions"))
            #expect(await events.next() == .cancelled)

            try await fleet.gateway.ledger.flush()
            #expect(try await fleet.gateway.store.usageCount() == 1)
        }
    }
}

@Suite("Gateway failures, limits and fleet views")
struct GatewayFailureTests {
    @Test("504 when the node produces no first byte in time")
    func firstByteTimeout() async throws {
        let silent = TestEngine { _, gate, _ in try await gate.wait() }
        try await withTestFleet(
            nodes: [.init(id: "n1", engine: silent)],
            configure: { $0.firstByteTimeout = .milliseconds(200) }
        ) { fleet in
            let response = try await fleet.post(json: chatBody(model: "test-model"))
            #expect(response.status == 504)
            #expect(response.error?["code"] as? String == "node_timeout")
            var events = silent.events.makeAsyncIterator()
            _ = await events.next()
            #expect(await events.next() == .cancelled)
            try await fleet.gateway.ledger.flush()
            #expect(try await fleet.gateway.store.usageCount() == 1)
        }
    }

    @Test("502 when the engine fails before answering, and the error mid-stream is an SSE error event")
    func engineFailure() async throws {
        struct Boom: Error {}
        let failing = TestEngine { request, _, emit in
            if request.stream {
                try await emit(TestEngine.sse(words: ["partial"], request: request)[0])
            }
            throw Boom()
        }
        try await withTestFleet(nodes: [.init(id: "n1", engine: failing)]) { fleet in
            let plain = try await fleet.post(json: chatBody(model: "test-model"))
            #expect(plain.status == 502)
            #expect(plain.error?["code"] as? String == "node_failed")

            let streamed = try await fleet.post(json: chatBody(model: "test-model", stream: true))
            #expect(streamed.status == 200)
            #expect(streamed.streamedText == "partial")
            #expect(streamed.body.contains("\"node_failed\""))
            try await fleet.gateway.ledger.flush()
            let row = try await fleet.gateway.store.usage(requestID: try #require(streamed.headers["x-request-id"]))
            #expect(row.map(\.outcome) == [.failed])
        }
    }

    @Test("a node whose tunnel drops mid-request fails the request with 502 and comes back")
    func nodeLostMidRequest() async throws {
        let stuck = TestEngine { _, gate, _ in try await gate.wait() }
        try await withTestFleet(nodes: [.init(id: "n1", engine: stuck)]) { fleet in
            var registry = fleet.gateway.registry.events().makeAsyncIterator()
            var engine = stuck.events.makeAsyncIterator()
            async let response = fleet.post(json: chatBody(model: "test-model"))
            _ = await engine.next()
            // Cut the node's tunnel from the gateway side, as a dead link would.
            let session = try #require(fleet.gateway.registry.session(NodeID("n1")))
            try await session.channel.close()
            #expect(try await response.status == 502)
            #expect(await registry.next() == .removed(NodeID("n1"), reason: "tunnel closed"))
            // The agent reconnects on its own, with backoff.
            #expect(await registry.next() == .registered(NodeID("n1")))
            #expect(fleet.agents[0].connectionCount == 2)
        }
    }

    @Test("two dozen concurrent streams all complete")
    func concurrentStreams() async throws {
        let engines = (1...2).map { index in
            TestEngine { request, _, emit in
                for chunk in TestEngine.sse(words: (0..<20).map { " w\($0)" }, request: request) { try await emit(chunk) }
            }
        }
        try await withTestFleet(nodes: engines.enumerated().map { .init(id: "n\($0.offset + 1)", engine: $0.element) }) { fleet in
            let texts = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<24 {
                    group.addTask { try await fleet.post(json: chatBody(model: "test-model", stream: true)).streamedText }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(texts.count == 24)
            #expect(Set(texts) == [(0..<20).map { " w\($0)" }.joined()])
            try await fleet.gateway.ledger.flush()
            #expect(try await fleet.gateway.store.usageCount() == 24)
        }
    }

    @Test("/v1/models lists what live nodes serve; health, readiness and metrics answer")
    func fleetViews() async throws {
        let engines = [TestEngine(model: "alpha") { _, _, _ in }, TestEngine(model: "org/beta") { _, _, _ in }]
        try await withTestFleet(nodes: [.init(id: "a", engine: engines[0]), .init(id: "b", engine: engines[1])]) { fleet in
            let models = try await fleet.get("/v1/models")
            #expect(models.status == 200)
            let ids = (models.json?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
            #expect(ids == ["alpha", "org/beta"])
            // One model by id, slashes and all (the SDK's models.retrieve); an unknown one is OpenAI's 404.
            let one = try await fleet.get("/v1/models/org/beta")
            #expect(one.status == 200 && one.json?["id"] as? String == "org/beta" && one.json?["object"] as? String == "model")
            let missing = try await fleet.get("/v1/models/gamma")
            #expect(missing.status == 404 && missing.error?["code"] as? String == "model_not_found")
            #expect(try await fleet.get("/healthz").status == 200)
            #expect(try await fleet.get("/readyz").status == 200)
            _ = try await fleet.post(json: chatBody(model: "alpha"))
            let metrics = try await fleet.get("/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("hearth_requests_total"))
            #expect(metrics.body.contains("hearth_nodes_connected 2"))
            let records = try await fleet.gateway.store.nodes()
            #expect(records.map(\.id) == [NodeID("a"), NodeID("b")])
        }
    }
}

@Suite("Gateway scheduling")
struct GatewaySchedulingTests {
    static func engine() -> TestEngine {
        TestEngine { request, _, emit in
            for chunk in TestEngine.json(text: "ok") { try await emit(chunk) }
        }
    }

    @Test("the class is inferred from the request's shape, declared classes win, and the decision is explained")
    func classesAndReasons() async throws {
        try await withTestFleet(nodes: [.init(id: "n1", engine: Self.engine()), .init(id: "n2", engine: Self.engine())]) { fleet in
            let longDocument = String(repeating: "lorem ipsum dolor sit amet ", count: 1000)  // ~6,750 tokens
            let document = try await fleet.post(json: chatBody(model: "test-model", content: longDocument, maxTokens: 64))
            #expect(document.status == 200, "\(document.body)")
            #expect(document.headers["x-hearth-class"] == "document")
            let code = try await fleet.post(json: chatBody(model: "test-model", maxTokens: 2000))
            #expect(code.headers["x-hearth-class"] == "code")
            let declared = try await fleet.post(json: chatBody(model: "test-model"), headers: [("X-Hearth-Task", "batch")])
            #expect(declared.headers["x-hearth-class"] == "batch")
            let viaMetadata = try await fleet.post(json: chatBody(model: "test-model", extra: ["metadata": ["task": "code"]]))
            #expect(viaMetadata.headers["x-hearth-class"] == "code")
            #expect(document.headers["x-hearth-decision"]?.isEmpty == false)
            let metrics = try await fleet.get("/metrics")
            #expect(metrics.body.contains("hearth_scheduler_decisions_total{policy=\"slo-aware\",outcome=\"placed\"}"))
        }
    }

    @Test("the turns of one conversation stay on the node that holds its KV cache")
    func sessionAffinity() async throws {
        try await withTestFleet(nodes: [.init(id: "n1", engine: Self.engine()), .init(id: "n2", engine: Self.engine())]) { fleet in
            var nodes: Set<String> = []
            var history: [[String: String]] = [
                ["role": "system", "content": "You are terse."], ["role": "user", "content": "Plan a trip."],
            ]
            for turn in 0..<4 {
                let response = try await fleet.post(json: ["model": "test-model", "messages": history, "max_tokens": 16])
                #expect(response.status == 200)
                nodes.insert(try #require(response.headers["x-hearth-node"]))
                history += [["role": "assistant", "content": "ok"], ["role": "user", "content": "And day \(turn + 2)?"]]
            }
            #expect(nodes.count == 1)
        }
    }

    @Test("nodes report a calibrated profile that the scheduler uses")
    func calibratedProfiles() async throws {
        try await withTestFleet(nodes: [.init(id: "n1", engine: Self.engine())]) { fleet in
            let profile = try #require(fleet.gateway.registry.scheduler.profile(of: NodeID("n1"), model: "test-model"))
            #expect(profile.prefillTokensPerSecond == 100_000)
            #expect(profile.maxBatch == 4)
        }
    }
}
