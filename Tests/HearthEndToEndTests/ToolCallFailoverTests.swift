import Foundation
import HearthCore
import HearthGateway
import NIOCore
import Testing

/// Tool calls and structured outputs across a failover (issue 16): the client never gets a call or a JSON answer
/// joined from two attempts. A tool call is relayed whole, so a node lost mid-call costs the client nothing of it; a
/// structured output that has begun cannot resume from a prefix, so its stream ends with its node's error instead.
@Suite struct ToolCallFailoverTests {
    static var toolCallBody: [String: Any] {
        chatBody(
            model: "test-model", content: "Weather in Oslo?", stream: true, maxTokens: 64,
            extra: [
                "metadata": ["task": "chat"],
                "tools": [
                    [
                        "type": "function",
                        "function": ["name": "weather", "parameters": ["type": "object", "properties": ["city": ["type": "string"]]]],
                    ]
                ],
            ])
    }

    static func event(_ delta: String, finish: String? = nil) -> ByteBuffer {
        let reason = finish.map { "\"\($0)\"" } ?? "null"
        return ByteBuffer(
            string: #"data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"test-model","choices":[{"index":0,"delta":"#
                + delta + #","finish_reason":"# + reason + "}]}\n\n")
    }

    static func toolCall(start: Bool, arguments: String) -> ByteBuffer {
        let escaped = arguments.replacingOccurrences(of: "\"", with: "\\\"")
        let head = start ? #""id":"call_1","type":"function","function":{"name":"weather","arguments":"# : #""function":{"arguments":"#
        return event(#"{"tool_calls":[{"index":0,"# + head + "\"" + escaped + "\"}}]}")
    }

    /// The first request says a few words, starts a call and goes silent halfway through its arguments; any other
    /// request (the failover, which carries the words as its prefix) makes the whole call.
    static func callingEngine(stall: StallOnce) -> TestEngine {
        TestEngine { request, gate, emit in
            let prefix = ContinuingAnswer.prefix(of: request)
            if prefix.isEmpty {
                try await emit(event(#"{"role":"assistant","content":"Checking. "}"#))
            }
            try await emit(toolCall(start: true, arguments: ""))
            try await emit(toolCall(start: false, arguments: #"{"city":"#))
            if prefix.isEmpty && stall.take() { try await gate.wait() }
            try await emit(toolCall(start: false, arguments: #""Oslo"}"#))
            try await emit(event("{}", finish: "tool_calls"))
            try await emit(ByteBuffer(string: "data: [DONE]\n\n"))
        }
    }

    /// Nodes running `engines`, with the chat class's stall limit at half a second: a node gone silent moves at once.
    static func withStallingFleet(_ engines: [TestEngine], _ body: (TestFleet) async throws -> Void) async throws {
        try await withTestFleet(
            nodes: engines.enumerated().map { TestNodeSpec(id: "node-\($0.offset)", engine: $0.element) },
            configure: { $0.stallLimits = StallDetector.Limits(interTokenSeconds: [.chat: 0.5]) }, body)
    }

    /// A JSON answer, `{"city":"Oslo"}`, whose first attempt goes silent after `{"city":`; it fails the test if it is
    /// ever asked to continue from a prefix.
    static func jsonEngine(stall: StallOnce) -> TestEngine {
        TestEngine { request, gate, emit in
            let prefix = ContinuingAnswer.prefix(of: request)
            #expect(prefix.isEmpty, "a structured output was continued from a prefix")
            try await emit(Self.event(#"{"role":"assistant","content":"{\"city\":"}"#))
            if stall.take() { try await gate.wait() }
            try await emit(Self.event(#"{"content":"\"Oslo\"}"}"#))
            try await emit(Self.event("{}", finish: "stop"))
            try await emit(ByteBuffer(string: "data: [DONE]\n\n"))
        }
    }

    /// Every call's arguments, joined per index as OpenAI's clients join streamed deltas.
    static func toolArguments(_ events: [String]) -> [Int: String] {
        var calls: [Int: String] = [:]
        for event in events {
            guard let object = try? JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any],
                let delta = (object["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any],
                let toolCalls = delta["tool_calls"] as? [[String: Any]]
            else { continue }
            for call in toolCalls {
                calls[call["index"] as? Int ?? -1, default: ""] += (call["function"] as? [String: Any])?["arguments"] as? String ?? ""
            }
        }
        return calls
    }

    @Test func aToolCallCutOffMidArgumentsReachesTheClientWholeFromTheNextNode() async throws {
        let stall = StallOnce()
        let engines = (0..<2).map { _ in Self.callingEngine(stall: stall) }
        try await Self.withStallingFleet(engines) { fleet in
            let answer = try await fleet.post(json: Self.toolCallBody)
            #expect(answer.status == 200)
            #expect(answer.streamedText == "Checking. ")
            let calls = Self.toolArguments(answer.events)
            #expect(calls.count == 1)
            let arguments = try #require(calls[0])
            let parsed = (try? JSONSerialization.jsonObject(with: Data(arguments.utf8))) as? [String: String]
            #expect(parsed == ["city": "Oslo"], "arguments as the client joins them: \(arguments)")
            #expect(answer.events.filter { $0.contains(#""name":"weather""#) }.count == 1)
            #expect(answer.events.filter { $0 == "[DONE]" }.count == 1)

            try await fleet.gateway.ledger.flush()
            let requestID = try #require(answer.headers["x-request-id"])
            let row = try #require(try await fleet.gateway.store.usage(requestID: requestID).first)
            #expect(row.outcome == .completed)
            #expect(row.attempts == 2)
        }
    }

    @Test func aToolCallWithoutFailoverIsRelayedUnchanged() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "node-0", engine: Self.noStall)]) { fleet in
            let answer = try await fleet.post(json: Self.toolCallBody)
            #expect(answer.status == 200)
            #expect(Self.toolArguments(answer.events) == [0: #"{"city":"Oslo"}"#])
            #expect(answer.events.last == "[DONE]")
        }
    }

    static let noStall = TestEngine { _, _, emit in
        try await emit(event(#"{"role":"assistant","content":""}"#))
        try await emit(toolCall(start: true, arguments: ""))
        try await emit(toolCall(start: false, arguments: #"{"city":"#))
        try await emit(toolCall(start: false, arguments: #""Oslo"}"#))
        try await emit(event("{}", finish: "tool_calls"))
        try await emit(ByteBuffer(string: "data: [DONE]\n\n"))
    }

    @Test func aStructuredOutputCutOffMidAnswerEndsWithAnErrorNotAJoinedObject() async throws {
        let stall = StallOnce()
        let engines = (0..<2).map { _ in Self.jsonEngine(stall: stall) }
        try await Self.withStallingFleet(engines) { fleet in
            let answer = try await fleet.post(
                json: chatBody(
                    model: "test-model", stream: true, maxTokens: 64,
                    extra: ["metadata": ["task": "chat"], "response_format": ["type": "json_object"]]))
            #expect(answer.status == 200)
            #expect(answer.streamedText == #"{"city":"#)
            let error = try #require(
                answer.events.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    .compactMap { $0["error"] as? [String: Any] }.first)
            // The node's failure, as it happened: the answer was not moved, so nothing was joined.
            #expect(error["code"] as? String == "node_timeout", "\(error)")
            #expect(answer.events.last == "[DONE]")
        }
    }
}
