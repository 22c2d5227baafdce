import Foundation
import HearthCore
import Testing

/// Chat answers in the Responses API's shape (issue 16): the buffered object and the streamed events.
@Suite struct ResponsesStreamTranslatorTests {
    static func object(_ request: [String: Any] = ["model": "m", "input": "x"]) throws -> ResponsesObject {
        let translated = try ResponsesRequest(body: Array(try JSONSerialization.data(withJSONObject: request)))
        return ResponsesObject(key: "abc123", createdAt: 1_700_000_000, echo: translated.echo)
    }

    static func chunk(content: String? = nil, toolCall: [String: Any]? = nil, finish: String? = nil, usage: [String: Int]? = nil)
        -> String
    {
        var delta: [String: Any] = [:]
        if let content { delta["content"] = content }
        if let toolCall { delta["tool_calls"] = [toolCall] }
        var chunk: [String: Any] = ["id": "c", "object": "chat.completion.chunk", "model": "m"]
        chunk["choices"] = usage == nil ? [["index": 0, "delta": delta, "finish_reason": finish.map { $0 as Any } ?? NSNull()]] : []
        if let usage { chunk["usage"] = usage }
        let json = String(decoding: try! JSONSerialization.data(withJSONObject: chunk), as: UTF8.self)
        return "data: \(json)\n\n"
    }

    /// Each event's type and data, checking the `event:` line matches the data's type.
    static func events(_ bytes: [UInt8]) throws -> [[String: Any]] {
        let text = String(decoding: bytes, as: UTF8.self)
        return try text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { block in
            let lines = block.components(separatedBy: "\n")
            #expect(lines.count == 2)
            let data = try #require(lines.last?.dropFirst("data: ".count))
            let event = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
            #expect(lines.first == "event: \(event["type"] as? String ?? "?")")
            return event
        }
    }

    @Test func aTextStreamBecomesTheResponsesEventSequence() throws {
        var translator = ResponsesStreamTranslator(object: try Self.object())
        var out = translator.translate(Array(Self.chunk(content: "").utf8))
        out += translator.translate(Array((Self.chunk(content: "Hel") + Self.chunk(content: "lo")).utf8))
        out += translator.translate(Array(Self.chunk(finish: "stop").utf8))
        out += translator.translate(Array(Self.chunk(usage: ["prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9]).utf8))
        out += translator.translate(Array("data: [DONE]\n\n".utf8))
        out += translator.finish()
        let events = try Self.events(out)
        #expect(
            events.map { $0["type"] as? String } == [
                "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
                "response.content_part.done", "response.output_item.done", "response.completed",
            ])
        #expect(events.map { $0["sequence_number"] as? Int } == Array(0..<events.count))
        #expect(events[4]["delta"] as? String == "Hel")
        #expect(events[4]["item_id"] as? String == "msg_abc123_0")
        #expect(events[6]["text"] as? String == "Hello")
        let response = try #require(events.last?["response"] as? [String: Any])
        #expect(response["id"] as? String == "resp_abc123")
        #expect(response["status"] as? String == "completed")
        #expect(response["model"] as? String == "m")
        let usage = try #require(response["usage"] as? [String: Any])
        #expect(usage["input_tokens"] as? Int == 7)
        #expect(usage["output_tokens"] as? Int == 2)
        #expect(usage["total_tokens"] as? Int == 9)
        let message = try #require((response["output"] as? [[String: Any]])?.first)
        #expect(((message["content"] as? [[String: Any]])?.first?["text"]) as? String == "Hello")
    }

    @Test func aToolCallAfterTextClosesTheMessageAndStreamsItsArguments() throws {
        var translator = ResponsesStreamTranslator(object: try Self.object())
        var input = Self.chunk(content: "Checking. ")
        input += Self.chunk(toolCall: ["index": 0, "id": "call_9", "type": "function", "function": ["name": "weather", "arguments": ""]])
        input += Self.chunk(toolCall: ["index": 0, "function": ["arguments": "{\"city\":"]])
        input += Self.chunk(toolCall: ["index": 0, "function": ["arguments": "\"Oslo\"}"]])
        input += Self.chunk(finish: "tool_calls") + "data: [DONE]\n\n"
        let events = try Self.events(translator.translate(Array(input.utf8)))
        let types = events.compactMap { $0["type"] as? String }
        #expect(types.firstIndex(of: "response.output_text.done")! < types.lastIndex(of: "response.output_item.added")!)
        let done = try #require(events.first { $0["type"] as? String == "response.function_call_arguments.done" })
        #expect(done["arguments"] as? String == "{\"city\":\"Oslo\"}")
        #expect(done["item_id"] as? String == "fc_abc123_1")
        let response = try #require(events.last?["response"] as? [String: Any])
        let output = try #require(response["output"] as? [[String: Any]])
        #expect(output.map { $0["type"] as? String } == ["message", "function_call"])
        #expect(output[1]["call_id"] as? String == "call_9")
        #expect(output[1]["name"] as? String == "weather")
        #expect(output[1]["status"] as? String == "completed")
    }

    @Test func aLengthFinishIsIncompleteAndAnErrorEventFailsTheResponse() throws {
        var cut = ResponsesStreamTranslator(object: try Self.object())
        let incomplete = try Self.events(
            cut.translate(Array((Self.chunk(content: "a") + Self.chunk(finish: "length") + "data: [DONE]\n\n").utf8)))
        let response = try #require(incomplete.last?["response"] as? [String: Any])
        #expect(incomplete.last?["type"] as? String == "response.incomplete")
        #expect((response["incomplete_details"] as? [String: String])?["reason"] == "max_output_tokens")

        var failing = ResponsesStreamTranslator(object: try Self.object())
        let error = #"data: {"error":{"message":"Node n1 stalled","type":"api_error","code":"node_timeout"}}"# + "\n\ndata: [DONE]\n\n"
        let failed = try Self.events(failing.translate(Array((Self.chunk(content: "a") + error).utf8)) + failing.finish())
        #expect(failed.last?["type"] as? String == "response.failed")
        let failedResponse = try #require(failed.last?["response"] as? [String: Any])
        #expect((failedResponse["error"] as? [String: String])?["code"] == "server_error")
        #expect((failedResponse["error"] as? [String: String])?["message"]?.contains("node_timeout") == true)
        // Nothing follows the end, neither the [DONE] nor later bytes.
        #expect(failed.filter { ($0["type"] as? String)?.hasPrefix("response.failed") == true }.count == 1)
        #expect(failing.translate(Array(Self.chunk(content: "late").utf8)).isEmpty)
    }

    @Test func crlfEventsSplitBytesGarbageAndAMissingDoneStillMakeOneWholeResponse() throws {
        var translator = ResponsesStreamTranslator(object: try Self.object())
        let stream = Array(
            (Self.chunk(content: "Hi").replacingOccurrences(of: "\n", with: "\r\n") + "data: {not json\n\n" + ": comment\n\n"
                + Self.chunk(content: " there")).utf8)
        var out: [UInt8] = []
        for byte in stream { out += translator.translate([byte]) }
        out += translator.finish()
        let events = try Self.events(out)
        #expect(events.last?["type"] as? String == "response.completed")
        let deltas = events.filter { $0["type"] as? String == "response.output_text.delta" }.compactMap { $0["delta"] as? String }
        #expect(deltas == ["Hi", " there"])
        #expect(translator.finish().isEmpty)
    }

    @Test func aHostileNodeCannotGrowTheItemsWithoutBound() throws {
        var translator = ResponsesStreamTranslator(object: try Self.object())
        var input = ""
        for index in 0..<500 { input += Self.chunk(toolCall: ["index": index, "function": ["name": "f", "arguments": "{}"]]) }
        let events = try Self.events(translator.translate(Array((input + "data: [DONE]\n\n").utf8)))
        let output = try #require((events.last?["response"] as? [String: Any])?["output"] as? [Any])
        #expect(output.count == ResponsesStreamTranslator.maximumItems)
    }

    @Test func aBufferedChatCompletionBecomesAResponseObject() throws {
        let object = try Self.object([
            "model": "m", "input": "x", "instructions": "Be brief.", "tools": [["type": "function", "name": "weather"]],
        ])
        let completion: [String: Any] = [
            "id": "c", "object": "chat.completion",
            "choices": [
                [
                    "index": 0, "finish_reason": "tool_calls",
                    "message": [
                        "role": "assistant", "content": "Checking.",
                        "tool_calls": [["id": "call_1", "type": "function", "function": ["name": "weather", "arguments": "{}"]]],
                    ],
                ]
            ],
            "usage": ["prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8, "prompt_tokens_details": ["cached_tokens": 4]],
        ]
        let body = try object.answer(fromChatCompletion: Array(try JSONSerialization.data(withJSONObject: completion)))
        let response = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(response["object"] as? String == "response")
        #expect(response["status"] as? String == "completed")
        #expect(response["instructions"] as? String == "Be brief.")
        #expect((response["tools"] as? [[String: Any]])?.first?["name"] as? String == "weather")
        let output = try #require(response["output"] as? [[String: Any]])
        #expect(output.map { $0["type"] as? String } == ["message", "function_call"])
        #expect(output.map { $0["id"] as? String } == ["msg_abc123_0", "fc_abc123_1"])
        let usage = try #require(response["usage"] as? [String: Any])
        #expect((usage["input_tokens_details"] as? [String: Int])?["cached_tokens"] == 4)
        #expect(usage["total_tokens"] as? Int == 8)
        #expect(throws: ResponsesRequest.Failure.self) { try object.answer(fromChatCompletion: Array("{\"choices\":3}".utf8)) }
    }
}
