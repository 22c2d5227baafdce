import Foundation
import HearthCore
import Testing

@Suite struct SSEStreamSplicerTests {
    static func chunk(_ id: String, role: String? = nil, content: String? = nil, finish: String? = nil, created: Int = 1) -> String {
        var delta: [String] = []
        if let role { delta.append("\"role\":\"\(role)\"") }
        if let content { delta.append("\"content\":\"\(content)\"") }
        let finishJSON = finish.map { "\"\($0)\"" } ?? "null"
        return
            "data: {\"id\":\"\(id)\",\"object\":\"chat.completion.chunk\",\"created\":\(created),\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\(delta.joined(separator: ","))},\"finish_reason\":\(finishJSON)}]}\n\n"
    }

    static func usage(_ id: String, prompt: Int, completion: Int) -> String {
        "data: {\"id\":\"\(id)\",\"object\":\"chat.completion.chunk\",\"created\":2,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":\(prompt),\"completion_tokens\":\(completion),\"total_tokens\":\(prompt + completion),\"prompt_tokens_details\":{\"cached_tokens\":7}}}\n\n"
    }

    /// Parses what the client received: its events' JSON objects and whether it ended with [DONE] exactly once.
    static func parse(_ bytes: [UInt8]) -> (objects: [[String: Any]], dones: Int, text: String) {
        let text = String(decoding: bytes, as: UTF8.self)
        var objects: [[String: Any]] = []
        var dones = 0
        var content = ""
        for event in text.components(separatedBy: "\n\n") where !event.isEmpty {
            #expect(event.hasPrefix("data: "), "malformed event \(event)")
            let data = String(event.dropFirst(6))
            if data == "[DONE]" {
                dones += 1
                continue
            }
            let object = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any]
            #expect(object != nil, "not JSON: \(data)")
            if let object {
                objects.append(object)
                if let choice = (object["choices"] as? [[String: Any]])?.first, let delta = choice["delta"] as? [String: Any] {
                    content += delta["content"] as? String ?? ""
                }
            }
        }
        return (objects, dones, content)
    }

    @Test func failoverMidStreamGivesOneWellFormedStream() {
        var splicer = SSEStreamSplicer(endpoint: .chatCompletions, originalPromptTokens: 100)
        var client: [UInt8] = []
        // Attempt 1: role, "Hello", ", wor" — then dies in the middle of the next event.
        let first = Self.chunk("A", role: "assistant", content: "") + Self.chunk("A", content: "Hello") + Self.chunk("A", content: ", wor")
        client += splicer.ingest(Array(first.utf8))
        client += splicer.ingest(Array(Self.chunk("A", content: "ld").utf8.prefix(30)))
        #expect(splicer.delivered == StreamMigration.Delivered(text: "Hello, wor", completionTokens: 2, finished: false))
        // Attempt 2 continues after "Hello, wor" with its own id, role chunk and usage.
        splicer.startNextAttempt()
        let second =
            Self.chunk("B", role: "assistant", content: "", created: 9) + Self.chunk("B", content: "ld", created: 9)
            + Self.chunk("B", content: "!", created: 9) + Self.chunk("B", content: "", finish: "stop", created: 9)
            + Self.usage("B", prompt: 102, completion: 2) + "data: [DONE]\n\n"
        // Feed it in awkward pieces.
        let bytes = Array(second.utf8)
        for start in stride(from: 0, to: bytes.count, by: 17) { client += splicer.ingest(bytes[start..<min(start + 17, bytes.count)]) }
        client += splicer.finish()

        let received = Self.parse(client)
        #expect(received.text == "Hello, world!")
        #expect(received.dones == 1)
        #expect(Set(received.objects.map { $0["id"] as? String }) == ["A"])
        #expect(Set(received.objects.map { $0["created"] as? Int }) == [1])
        let roles = received.objects.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["role"] }
        #expect(roles.count == 1)
        let usage = received.objects.compactMap { $0["usage"] as? [String: Any] }
        #expect(usage.count == 1)
        #expect(usage.first?["prompt_tokens"] as? Int == 100)
        #expect(usage.first?["completion_tokens"] as? Int == 4)
        #expect(usage.first?["total_tokens"] as? Int == 104)
        #expect(usage.first?["prompt_tokens_details"] == nil)
        // The ledger gets what was computed: 100 + 2 on attempt 1 (estimated), 102 + 2 on attempt 2 (reported).
        let accounting = splicer.usage
        #expect(accounting.attempts.map(\.promptTokens) == [100, 102])
        #expect(accounting.attempts.map(\.completionTokens) == [2, 2])
        #expect(accounting.attempts.map(\.reportedByEngine) == [false, true])
        #expect(accounting.clientCompletionTokens == 4)
    }

    @Test func firstAttemptPassesThroughByteForByte() {
        var splicer = SSEStreamSplicer(endpoint: .chatCompletions, originalPromptTokens: 5)
        let stream =
            Self.chunk("A", role: "assistant", content: "") + Self.chunk("A", content: "Hi") + ": keep-alive\n\n"
            + Self.chunk("A", finish: "stop")
            + "data: [DONE]\n\n"
        let out = splicer.ingest(Array(stream.utf8)) + splicer.finish()
        #expect(out == Array(stream.utf8))
    }

    @Test func cachedTokenCountsNeverReachTheClient() {
        var splicer = SSEStreamSplicer(endpoint: .chatCompletions, originalPromptTokens: 5)
        let out = splicer.ingest(Array(Self.usage("A", prompt: 5, completion: 1).utf8))
        let usage = Self.parse(out).objects.first?["usage"] as? [String: Any]
        #expect(usage?["prompt_tokens"] as? Int == 5)
        #expect(usage?["prompt_tokens_details"] == nil)
    }

    @Test func failureBeforeAnyByteForwardsTheSecondAttemptsRole() {
        var splicer = SSEStreamSplicer(endpoint: .chatCompletions, originalPromptTokens: 5)
        let errorOut = splicer.ingest(Array("data: {\"error\":{\"message\":\"engine died\"}}\n\n".utf8))
        #expect(errorOut.isEmpty)
        #expect(splicer.attemptError != nil)
        splicer.startNextAttempt()
        let out = splicer.ingest(Array((Self.chunk("B", role: "assistant", content: "") + Self.chunk("B", content: "ok")).utf8))
        let received = Self.parse(out)
        #expect(received.text == "ok")
        #expect(received.objects.count == 2)
        #expect(received.objects.first?["id"] as? String == "B")
    }

    @Test func completionsEndpointSplicesText() {
        var splicer = SSEStreamSplicer(endpoint: .completions, originalPromptTokens: 3)
        func text(_ id: String, _ t: String) -> String {
            "data: {\"id\":\"\(id)\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\"\(t)\",\"finish_reason\":null}]}\n\n"
        }
        var out = splicer.ingest(Array((text("A", "one ") + text("A", "two ")).utf8))
        splicer.startNextAttempt()
        out += splicer.ingest(Array((text("B", "three")).utf8)) + splicer.finish()
        let body = String(decoding: out, as: UTF8.self)
        #expect(!body.contains("\"B\""))
        #expect(splicer.delivered.text == "one two three")
        #expect(body.hasSuffix("data: [DONE]\n\n"))
    }

    @Test func continuationBodyAppendsTheDeliveredText() throws {
        let body = Array("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":100,\"stream\":true}".utf8)
        let rewritten = try ContinuationBody.rewrite(body, endpoint: .chatCompletions, delivered: "Hello, wor", remainingMaxTokens: 98)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(rewritten)) as? [String: Any])
        let messages = try #require(object["messages"] as? [[String: Any]])
        #expect(messages.last?["role"] as? String == "assistant")
        #expect(messages.last?["content"] as? String == "Hello, wor")
        #expect(object["max_tokens"] as? Int == 98)
        #expect(object["continue_final_message"] as? Bool == true)
        #expect(object["add_generation_prompt"] as? Bool == false)
        let completions = try ContinuationBody.rewrite(
            Array("{\"prompt\":\"a\",\"max_tokens\":5}".utf8), endpoint: .completions, delivered: "b", remainingMaxTokens: 4)
        #expect(String(decoding: completions, as: UTF8.self) == "{\"max_tokens\":4,\"prompt\":\"ab\"}")
        #expect(throws: ContinuationBody.Failure.notContinuable("n > 1")) {
            try ContinuationBody.rewrite(
                Array("{\"n\":2,\"messages\":[]}".utf8), endpoint: .chatCompletions, delivered: "x", remainingMaxTokens: 1)
        }
    }

    static func toolCall(_ id: String, start: Bool = false, arguments: String) -> String {
        let head = start ? #""id":"call_\#(id)","type":"function","function":{"name":"weather","arguments":"# : #""function":{"arguments":"#
        let escaped = arguments.replacingOccurrences(of: "\"", with: "\\\"")
        return "data: {\"id\":\"\(id)\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
            + "\"delta\":{\"tool_calls\":[{\"index\":0,\(head)\"\(escaped)\"}}]},\"finish_reason\":null}]}\n\n"
    }

    /// The arguments of every tool call the client received, joined per call index as clients join them.
    static func toolArguments(_ objects: [[String: Any]]) -> [Int: String] {
        var calls: [Int: String] = [:]
        for object in objects {
            guard let delta = (object["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any],
                let toolCalls = delta["tool_calls"] as? [[String: Any]]
            else { continue }
            for call in toolCalls {
                let index = call["index"] as? Int ?? -1
                calls[index, default: ""] += (call["function"] as? [String: Any])?["arguments"] as? String ?? ""
            }
        }
        return calls
    }

    @Test("a tool call cut off by a failover reaches the client once, whole, from the attempt that finished it")
    func toolCallInterruptedByFailoverArrivesWhole() throws {
        var splicer = SSEStreamSplicer(endpoint: .chatCompletions, originalPromptTokens: 10)
        var client: [UInt8] = []
        client += splicer.ingest(Array((Self.chunk("a", role: "assistant", content: "Checking. ")).utf8))
        // The first node starts a call, and is lost halfway through its arguments.
        let partial = splicer.ingest(
            Array((Self.toolCall("a", start: true, arguments: "") + Self.toolCall("a", arguments: #"{"city":"#)).utf8))
        #expect(partial.isEmpty)
        #expect(splicer.delivered.text == "Checking. ")
        splicer.startNextAttempt()
        // The next node, given the text as its prefix, makes the whole call.
        client += splicer.ingest(Array((Self.chunk("b", role: "assistant")).utf8))
        client += splicer.ingest(Array((Self.toolCall("b", start: true, arguments: "") + Self.toolCall("b", arguments: #"{"city":"#)).utf8))
        client += splicer.ingest(Array((Self.toolCall("b", arguments: #""Oslo"}"#)).utf8))
        client += splicer.ingest(Array((Self.chunk("b", finish: "tool_calls") + "data: [DONE]\n\n").utf8))
        client += splicer.finish()
        let received = Self.parse(client)
        #expect(received.dones == 1)
        #expect(received.text == "Checking. ")
        let calls = Self.toolArguments(received.objects)
        #expect(calls.count == 1)
        let arguments = try #require(calls[0])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(arguments.utf8)) as? [String: String])
        #expect(parsed == ["city": "Oslo"])
        #expect(received.objects.allSatisfy { $0["id"] as? String == "a" })
    }

    @Test("a tool call the last attempt ended without a finish reason still reaches the client before [DONE]")
    func heldToolCallGoesOutAtTheEnd() {
        var splicer = SSEStreamSplicer(endpoint: .chatCompletions, originalPromptTokens: 10)
        splicer.startNextAttempt()
        #expect(splicer.ingest(Array(Self.toolCall("b", start: true, arguments: "{}").utf8)).isEmpty)
        let end = String(decoding: splicer.finish(), as: UTF8.self)
        #expect(end.hasPrefix("data: {"))
        #expect(end.hasSuffix("data: [DONE]\n\n"))
    }

    @Test("a structured output that has begun cannot resume from a prefix; one that has not can start again")
    func structuredOutputsAreNotContinued() throws {
        let body = Array(
            #"{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}}"#
                .utf8)
        #expect(throws: ContinuationBody.Failure.self) {
            try ContinuationBody.rewrite(body, endpoint: .chatCompletions, delivered: #"{"a":"#, remainingMaxTokens: 10)
        }
        #expect(try ContinuationBody.rewrite(body, endpoint: .chatCompletions, delivered: "", remainingMaxTokens: 10).isEmpty == false)
        let text = Array(#"{"messages":[],"response_format":{"type":"text"}}"#.utf8)
        #expect(try ContinuationBody.rewrite(text, endpoint: .chatCompletions, delivered: "x", remainingMaxTokens: 1).isEmpty == false)
    }
}
