import Foundation
import HearthCore
import Testing

/// A Responses API request in chat completion form (issue 16): what engines get, and what is refused, field named.
@Suite struct ResponsesRequestTests {
    static func translate(_ body: [String: Any]) throws -> (chat: [String: Any], request: ResponsesRequest) {
        let request = try ResponsesRequest(body: Array(try JSONSerialization.data(withJSONObject: body)))
        let chat = try #require(try JSONSerialization.jsonObject(with: Data(request.chatBody)) as? [String: Any])
        return (chat, request)
    }

    static func failure(_ body: [String: Any]) -> ResponsesRequest.Failure? {
        do {
            _ = try ResponsesRequest(body: Array(try JSONSerialization.data(withJSONObject: body)))
            return nil
        } catch let failure as ResponsesRequest.Failure {
            return failure
        } catch {
            return nil
        }
    }

    @Test func aStringInputWithInstructionsBecomesASystemAndAUserMessage() throws {
        let (chat, request) = try Self.translate([
            "model": "m", "input": "Hi", "instructions": "Be brief.", "max_output_tokens": 12, "temperature": 0,
            "metadata": ["task": "chat"], "stream": true,
        ])
        let messages = try #require(chat["messages"] as? [[String: String]])
        #expect(messages == [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi"]])
        #expect(chat["model"] as? String == "m")
        #expect(chat["max_tokens"] as? Int == 12)
        #expect(chat["temperature"] as? Double == 0)
        #expect((chat["metadata"] as? [String: String])?["task"] == "chat")
        #expect(chat["stream"] as? Bool == true)
        #expect((chat["stream_options"] as? [String: Bool])?["include_usage"] == true)
        #expect(request.stream)
    }

    @Test func itemsBecomeMessagesAndFunctionCallsJoinTheAssistantTurnBeforeThem() throws {
        let (chat, _) = try Self.translate([
            "model": "m",
            "input": [
                ["role": "developer", "content": "Use tools."],
                [
                    "type": "message", "role": "user",
                    "content": [["type": "input_text", "text": "Weather "], ["type": "input_text", "text": "in Oslo?"]],
                ],
                ["type": "message", "role": "assistant", "content": [["type": "output_text", "text": "Checking."]]],
                ["type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Oslo\"}"],
                ["type": "function_call", "call_id": "call_2", "name": "time", "arguments": "{}"],
                ["type": "function_call_output", "call_id": "call_1", "output": "4 C"],
                ["type": "reasoning", "summary": []],
            ],
        ])
        let messages = try #require(chat["messages"] as? [[String: Any]])
        #expect(messages.count == 4)
        #expect(messages[0]["role"] as? String == "system")
        #expect(messages[1]["content"] as? String == "Weather in Oslo?")
        #expect(messages[2]["role"] as? String == "assistant")
        #expect(messages[2]["content"] as? String == "Checking.")
        let calls = try #require(messages[2]["tool_calls"] as? [[String: Any]])
        #expect(calls.map { $0["id"] as? String } == ["call_1", "call_2"])
        #expect((calls[0]["function"] as? [String: String]) == ["name": "weather", "arguments": "{\"city\":\"Oslo\"}"])
        #expect(messages[3]["role"] as? String == "tool")
        #expect(messages[3]["tool_call_id"] as? String == "call_1")
        #expect(messages[3]["content"] as? String == "4 C")
    }

    @Test func functionToolsChoiceAndTextFormatTakeTheirChatForms() throws {
        let parameters: [String: Any] = ["type": "object", "properties": ["city": ["type": "string"]]]
        let (chat, _) = try Self.translate([
            "model": "m", "input": "x",
            "tools": [["type": "function", "name": "weather", "description": "Weather now", "parameters": parameters, "strict": true]],
            "tool_choice": ["type": "function", "name": "weather"], "parallel_tool_calls": false,
            "text": ["format": ["type": "json_schema", "name": "answer", "schema": ["type": "object"], "strict": true]],
        ])
        let tool = try #require((chat["tools"] as? [[String: Any]])?.first)
        let function = try #require(tool["function"] as? [String: Any])
        #expect(tool["type"] as? String == "function")
        #expect(function["name"] as? String == "weather")
        #expect(function["description"] as? String == "Weather now")
        #expect(function["strict"] as? Bool == true)
        #expect((chat["tool_choice"] as? [String: Any])?["function"] as? [String: String] == ["name": "weather"])
        #expect(chat["parallel_tool_calls"] as? Bool == false)
        let format = try #require(chat["response_format"] as? [String: Any])
        #expect(format["type"] as? String == "json_schema")
        #expect((format["json_schema"] as? [String: Any])?["name"] as? String == "answer")
        // Plain text needs no response_format.
        let (plain, _) = try Self.translate(["model": "m", "input": "x", "text": ["format": ["type": "text"]]])
        #expect(plain["response_format"] == nil)
    }

    @Test func whatNeedsAStoredResponseOrANonTextInputIsRefusedWithItsField() {
        #expect(Self.failure(["model": "m", "input": "x", "previous_response_id": "resp_1"])?.param == "previous_response_id")
        #expect(Self.failure(["model": "m", "input": "x", "background": true])?.param == "background")
        #expect(Self.failure(["model": "m", "input": [["type": "item_reference", "id": "msg_1"]]])?.param == "input[0].type")
        #expect(
            Self.failure([
                "model": "m", "input": [["role": "user", "content": [["type": "input_image", "image_url": "data:..."]]]],
            ])?.param == "input[0].content[0].type")
        #expect(Self.failure(["model": "m", "input": "x", "tools": [["type": "web_search"]]])?.param == "tools[0].type")
        #expect(Self.failure(["model": "m", "input": "x", "text": ["format": ["type": "yaml"]]])?.param == "text.format.type")
    }

    @Test func wrongTypesAndMissingFieldsNameTheField() {
        #expect(Self.failure(["input": "x"])?.param == "model")
        #expect(Self.failure(["model": "m"])?.param == "input")
        #expect(Self.failure(["model": "m", "input": []])?.param == "input")
        #expect(Self.failure(["model": "m", "input": [["role": "robot", "content": "x"]]])?.param == "input[0].role")
        #expect(Self.failure(["model": "m", "input": "x", "max_output_tokens": 0])?.param == "max_output_tokens")
        #expect(Self.failure(["model": "m", "input": "x", "max_output_tokens": 1.5])?.param == "max_output_tokens")
        // A JSON boolean is no number, and a number no boolean.
        #expect(Self.failure(["model": "m", "input": "x", "max_output_tokens": true])?.param == "max_output_tokens")
        #expect(Self.failure(["model": "m", "input": "x", "stream": 1])?.param == "stream")
        #expect(Self.failure(["model": "m", "input": "x", "instructions": 3])?.param == "instructions")
        #expect(Self.failure(["model": "m", "input": [["type": "function_call", "name": "f"]]])?.param == "input[0]")
        #expect(throws: ResponsesRequest.Failure.self) { try ResponsesRequest(body: Array("[1,2]".utf8)) }
        #expect(throws: ResponsesRequest.Failure.self) { try ResponsesRequest(body: Array("{\"model\":".utf8)) }
    }
}
