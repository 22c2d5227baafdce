import Foundation
import HearthCore
import HearthGateway
import NIOCore
import Testing

/// `POST /v1/responses` (issue 16): the official `openai` client's own Responses calls, served by chat-completion
/// engines through the gateway, its objects and events checked against the SDK's types.
@Suite("Responses API", .serialized)
struct ResponsesAPITests {
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/responses_client_check.py").path
    }

    static func run(_ fleet: TestFleet, model: String, mode: String) async throws -> [String: Any] {
        try #require(
            FileManager.default.isExecutableFile(atPath: OpenAIClientTests.python),
            "no Python with the openai package at \(OpenAIClientTests.python): run scripts/test.sh (make test)")
        let output = try await OpenAIClientTests.run(OpenAIClientTests.python, [Self.script, fleet.baseURL, fleet.apiKey, model, mode])
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "script printed: \(output)")
    }

    @Test("responses.create, streamed and not, and the SDK's stream helper, with llama.cpp behind the gateway")
    func officialClientWithTheRealEngine() async throws {
        try await LlamaSupport.withClient { engineClient in
            let (node, _) = try LlamaSupport.node(id: "llama-1", client: engineClient)
            try await withTestFleet(nodes: [node]) { fleet in
                let result = try await Self.run(fleet, model: LlamaSupport.modelName, mode: "text")
                #expect((result["plain_text"] as? String)?.isEmpty == false)
                #expect(["completed", "incomplete"].contains(result["plain_status"] as? String))
                #expect((result["plain_usage"] as? Int ?? 0) > 0)
                #expect(result["plain_node"] as? String == "llama-1")
                // The response's id is the request's: one id finds the answer in the ledger and the logs.
                let requestID = try #require(result["plain_request_id"] as? String)
                let key = requestID.replacingOccurrences(of: "hearth-", with: "").replacingOccurrences(of: "-", with: "")
                #expect(result["plain_id"] as? String == "resp_" + key)

                let types = try #require(result["stream_types"] as? [String])
                #expect(types.prefix(2) == ["response.created", "response.in_progress"])
                #expect(types.contains("response.output_text.delta"))
                #expect(["response.completed", "response.incomplete"].contains(types.last))
                #expect((result["stream_text"] as? String)?.isEmpty == false)
                #expect((result["stream_usage"] as? Int ?? 0) > 0)
                #expect((result["helper_text"] as? String)?.isEmpty == false)
                #expect(result["helper_deltas"] as? String == result["helper_text"] as? String)

                #expect(result["previous_response"] as? String == "previous_response_id")
                #expect(result["image_input"] as? String == "input[0].content[0].type")
                #expect(result["retrieve"] as? String == "response_not_found")
            }
        }
    }

    /// Answers a first turn with a streamed tool call, and a turn that carries the call's output with text.
    static let weatherEngine = TestEngine { request, _, emit in
        let body = try JSONSerialization.jsonObject(with: Data(buffer: request.body)) as? [String: Any]
        let messages = body?["messages"] as? [[String: Any]] ?? []
        if let result = messages.last(where: { $0["role"] as? String == "tool" })?["content"] as? String {
            let answer: [String: Any] = [
                "id": "c2", "object": "chat.completion", "model": "test-model",
                "choices": [["index": 0, "finish_reason": "stop", "message": ["role": "assistant", "content": "Oslo: \(result)."]]],
                "usage": ["prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25],
            ]
            return try await emit(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: answer)))
        }
        try await emit(ToolCallFailoverTests.event(#"{"role":"assistant","content":"Checking. "}"#))
        try await emit(ToolCallFailoverTests.toolCall(start: true, arguments: ""))
        try await emit(ToolCallFailoverTests.toolCall(start: false, arguments: #"{"city":"#))
        try await emit(ToolCallFailoverTests.toolCall(start: false, arguments: #""Oslo"}"#))
        try await emit(ToolCallFailoverTests.event("{}", finish: "tool_calls"))
        try await emit(
            ByteBuffer(
                string:
                    #"data: {"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}"#
                    + "\n\n"))
        try await emit(ByteBuffer(string: "data: [DONE]\n\n"))
    }

    @Test("a streamed tool call reaches the official client as a function_call item, and its output goes back as input")
    func functionCallsWithTheOfficialClient() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "node-0", engine: Self.weatherEngine)]) { fleet in
            let result = try await Self.run(fleet, model: "test-model", mode: "tools")
            let types = try #require(result["stream_types"] as? [String])
            #expect(types.contains("response.function_call_arguments.delta"))
            #expect(types.contains("response.function_call_arguments.done"))
            #expect(types.last == "response.completed")
            #expect(result["stream_text"] as? String == "Checking. ")
            let calls = try #require(result["calls"] as? [[String: Any]])
            #expect(calls.count == 1)
            #expect(calls.first?["name"] as? String == "weather")
            #expect(calls.first?["call_id"] as? String == "call_1")
            #expect(calls.first?["arguments"] as? [String: String] == ["city": "Oslo"])
            #expect(result["followup_text"] as? String == "Oslo: 4 C, rain.")
            let chatCalls = try #require(result["chat_calls"] as? [[String: Any]])
            #expect(chatCalls.count == 1)
            #expect(chatCalls.first?["name"] as? String == "weather")
            #expect(chatCalls.first?["arguments"] as? [String: String] == ["city": "Oslo"])
        }
    }

    @Test func aToolCallCutOffMidArgumentsReachesAResponsesClientWholeFromTheNextNode() async throws {
        let stall = StallOnce()
        let engines = (0..<2).map { _ in ToolCallFailoverTests.callingEngine(stall: stall) }
        try await ToolCallFailoverTests.withStallingFleet(engines) { fleet in
            let answer = try await fleet.post(
                "/v1/responses",
                json: [
                    "model": "test-model", "input": "Weather in Oslo?", "stream": true, "metadata": ["task": "chat"],
                    "tools": [["type": "function", "name": "weather", "parameters": ["type": "object"]]],
                ])
            #expect(answer.status == 200)
            let events = Self.events(answer)
            #expect(!events.isEmpty)
            #expect(events.map { $0["sequence_number"] as? Int } == Array(0..<events.count))
            let final = try #require(events.last)
            #expect(final["type"] as? String == "response.completed")
            let output = try #require((final["response"] as? [String: Any])?["output"] as? [[String: Any]])
            #expect(output.map { $0["type"] as? String } == ["message", "function_call"])
            let text = (output.first?["content"] as? [[String: Any]])?.first?["text"] as? String
            #expect(text == "Checking. ")
            let arguments = try #require((output.last?["arguments"] as? String).map { Data($0.utf8) })
            #expect(try JSONSerialization.jsonObject(with: arguments) as? [String: String] == ["city": "Oslo"])
            // Argument deltas add up to the arguments: the client's own accumulation sees one whole call.
            let deltas = events.filter { $0["type"] as? String == "response.function_call_arguments.delta" }
                .compactMap { $0["delta"] as? String }.joined()
            #expect(deltas == #"{"city":"Oslo"}"#)
        }
    }

    /// Each event of a Responses stream (`event: <type>`, `data: <json>`), as JSON.
    static func events(_ answer: CollectedResponse) -> [[String: Any]] {
        answer.body.components(separatedBy: "\n\n").compactMap { block -> [String: Any]? in
            guard let data = block.components(separatedBy: "\n").first(where: { $0.hasPrefix("data: ") }) else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(data.dropFirst(6).utf8)) as? [String: Any]
        }
    }

    @Test func aStructuredAnswerThatCannotMoveEndsWithResponseFailed() async throws {
        let stall = StallOnce()
        let engines = (0..<2).map { _ in ToolCallFailoverTests.jsonEngine(stall: stall) }
        try await ToolCallFailoverTests.withStallingFleet(engines) { fleet in
            let answer = try await fleet.post(
                "/v1/responses",
                json: [
                    "model": "test-model", "input": "City as JSON", "stream": true, "metadata": ["task": "chat"],
                    "text": ["format": ["type": "json_object"]],
                ])
            #expect(answer.status == 200)
            let events = Self.events(answer)
            #expect(events.map { $0["sequence_number"] as? Int } == Array(0..<events.count))
            #expect(events.last?["type"] as? String == "response.failed")
            let response = try #require(events.last?["response"] as? [String: Any])
            let error = try #require(response["error"] as? [String: Any])
            #expect(error["code"] as? String == "server_error")
            #expect((error["message"] as? String)?.contains("node_timeout") == true, "\(error)")
            // What the client had is in the failed response, whole items only.
            let output = response["output"] as? [[String: Any]]
            #expect((output?.first?["content"] as? [[String: Any]])?.first?["text"] as? String == #"{"city":"#)
        }
    }

    @Test func badResponsesRequestsGetOpenAIErrorsNamingTheField() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "node-0", engine: Self.weatherEngine)]) { fleet in
            let missing = try await fleet.post("/v1/responses", json: ["model": "test-model"])
            #expect(missing.status == 400)
            #expect(missing.error?["param"] as? String == "input")
            let tools = try await fleet.post(
                "/v1/responses", json: ["model": "test-model", "input": "x", "tools": [["type": "file_search"]]])
            #expect(tools.status == 400)
            #expect(tools.error?["param"] as? String == "tools[0].type")
            let unknown = try await fleet.post("/v1/responses", json: ["model": "no-such-model", "input": "x"])
            #expect(unknown.status == 404)
            let unauthorized = try await fleet.post("/v1/responses", json: ["model": "test-model", "input": "x"], apiKey: "wrong")
            #expect(unauthorized.status == 401)
        }
    }
}
