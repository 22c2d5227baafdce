import Foundation
import HearthCore
import HearthGateway
import NIOCore
import Testing

/// What the gateway lets through to engines: allowed fields only, each once, one token limit, and a 400 naming the
/// field for a client's mistake (never an engine's 500).
@Suite struct EngineRequestAllowListTests {
    static let base = #""model":"test-model","messages":[{"role":"user","content":"hi"}]"#

    func parse(_ json: String, endpoint: CompletionRequest.Endpoint = .chatCompletions) throws -> CompletionRequest {
        try CompletionRequestParser.parse(Data(json.utf8), endpoint: endpoint, taskHeader: nil)
    }

    /// The body engines get, decoded.
    func engineFields(_ json: String) throws -> [String: Any] {
        let parsed = try parse(json)
        let bytes = parsed.engineBody ?? Array(json.utf8)
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func aPlainRequestKeepsTheClientsBytes() throws {
        #expect(try parse("{" + Self.base + #","max_tokens":8,"temperature":0.10,"stream":false}"#).engineBody == nil)
        #expect(try parse(#"{"model":"m","prompt":"p","echo":false}"#, endpoint: .completions).engineBody == nil)
    }

    @Test(arguments: [
        "id_slot", "slot_id", "cache_prompt", "cache_salt", "chat_template", "samplers", "lora", "grammar", "return_progress",
        "timings_per_token", "n_probs", "n_keep", "n_discard", "t_max_predict_ms", "ignore_eos", "metadata", "best_of",
        "chat_template_kwargs", "priority",
    ])
    func engineSpecificFieldsNeverReachTheEngine(field: String) throws {
        let value = field == "metadata" ? "{}" : "1"  // metadata is checked: the gateway reads its task
        let fields = try engineFields("{" + Self.base + #","\#(field)":\#(value)}"#)
        #expect(fields[field] == nil)
        #expect(fields["model"] as? String == "test-model")
        #expect(fields["messages"] != nil)
    }

    @Test func tokenLimitsUseTheEffectiveMaximumWhateverTheFieldIsCalled() throws {
        let sneaky = "{" + Self.base + #","max_tokens":1,"n_predict":100000}"#
        #expect(try parse(sneaky).maxTokens == 100_000)
        let fields = try engineFields(sneaky)
        #expect(fields["max_tokens"] as? Int == 100_000 && fields["n_predict"] == nil)
        let both = "{" + Self.base + #","max_tokens":3,"max_completion_tokens":900}"#
        #expect(try parse(both).maxTokens == 900)
        let mapped = try engineFields(both)
        #expect(mapped["max_tokens"] as? Int == 900 && mapped["max_completion_tokens"] == nil)
        #expect(try engineFields("{" + Self.base + #","max_new_tokens":50}"#)["max_tokens"] as? Int == 50)
        #expect(throws: OpenAIError.self) { try parse("{" + Self.base + #","max_tokens":4,"n_predict":-1}"#) }
    }

    @Test func duplicateAndEscapedKeysCannotOverrideWhatTheGatewaySets() throws {
        // The gateway validated the last duplicate; the engine gets only that one, whatever its parser prefers.
        let duplicate = "{" + Self.base + #","max_tokens":100000,"max_tokens":2}"#
        #expect(try parse(duplicate).maxTokens == 2)
        let once = String(decoding: try #require(try parse(duplicate).engineBody), as: UTF8.self)
        #expect(once.components(separatedBy: "\"max_tokens\"").count == 2 && once.contains(#""max_tokens":2"#), "\(once)")
        // An escaped name is the same field to every JSON parser: written plain, or dropped when not allowed.
        let escaped = "{" + Self.base + #","cache_pr\u006fmpt":true,"n_pre\u0064ict":9999,"max_tok\u0065ns":5}"#
        let body = String(decoding: try #require(try parse(escaped).engineBody), as: UTF8.self)
        #expect(!body.contains("\\u"), "\(body)")
        let fields = try engineFields(escaped)
        #expect(fields["cache_prompt"] == nil && fields["n_predict"] == nil)
        #expect(fields["max_tokens"] as? Int == 9999)
        let model = try engineFields(#"{"model":"test-model","mod\u0065l":"other","messages":[{"role":"user","content":"hi"}]}"#)
        #expect(model["model"] as? String == "other")
        #expect(try parse(#"{"model":"a","mod\u0065l":"b","prompt":"p"}"#, endpoint: .completions).model == "b")
    }

    @Test func streamOptionsReachTheEngineAsTheGatewayReadThem() throws {
        let stream = "{" + Self.base + #","stream":true,"#
        #expect(try parse(stream + #""stream_options":{"include_usage":true}}"#).engineBody == nil)
        for options in [
            #"{"include_usage":true,"include_usage":false}"#, #"{"include_usag\u0065":false}"#,
            #"{"include_usage":false,"continuous_usage_stats":true}"#,
        ] {
            let parsed = try parse(stream + #""stream_options":"# + options + "}")
            let body = String(decoding: try #require(parsed.engineBody), as: UTF8.self)
            #expect(body.contains(#""stream_options":{"include_usage":\#(parsed.includeUsage)}"#), "\(body)")
        }
    }

    @Test func valuesReachTheEngineByteForByteWhenTheBodyIsRewritten() throws {
        let json = "{" + Self.base + #","temperature":0.1000,"seed":12345678901234567,"lora":[],"stop":["\u00e9"]}"#
        let body = String(decoding: try #require(try parse(json).engineBody), as: UTF8.self)
        #expect(body.contains(#""temperature":0.1000"#) && body.contains(#""seed":12345678901234567"#))
        #expect(body.contains(#""stop":["\u00e9"]"#) && !body.contains("lora"))
    }

    @Test(arguments: [
        (#""tools":true"#, "tools"),
        (#""tools":[{"type":"function"}]"#, "tools[0].function"),
        (#""tools":[{"type":"function","function":{"name":"a b"}}]"#, "tools[0].function.name"),
        (#""tools":[{"type":"retrieval","function":{"name":"a"}}]"#, "tools[0].type"),
        (#""tools":[{"type":"function","function":{"name":"a","parameters":"x"}}]"#, "tools[0].function.parameters"),
        (#""tool_choice":"sometimes""#, "tool_choice"),
        (#""tool_choice":{"type":"function","function":{"name":"missing"}}"#, "tool_choice"),
        (#""tool_choice":"required""#, "tool_choice"),
        (#""tool_choice":7"#, "tool_choice"),
        (#""parallel_tool_calls":"yes""#, "parallel_tool_calls"),
        (#""response_format":"json""#, "response_format"),
        (#""response_format":{"type":"xml"}"#, "response_format.type"),
        (#""response_format":{"type":"json_schema"}"#, "response_format.json_schema"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"s","schema":[]}}"#, "response_format.json_schema.schema"),
        (#""stop":5"#, "stop"),
        (#""stop":[1]"#, "stop"),
        (#""stop":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]"#, "stop"),
        (#""logit_bias":[]"#, "logit_bias"),
        (#""logit_bias":{"hello":5}"#, "logit_bias"),
        (#""logit_bias":{"42":500}"#, "logit_bias"),
        (#""seed":1.5"#, "seed"),
        (#""seed":"1""#, "seed"),
        (#""seed":1e30"#, "seed"),
        (#""presence_penalty":3"#, "presence_penalty"),
        (#""frequency_penalty":"x""#, "frequency_penalty"),
        (#""logprobs":1"#, "logprobs"),
        (#""top_logprobs":5"#, "top_logprobs"),
        (#""top_k":1.5"#, "top_k"),
        (#""min_p":2"#, "min_p"),
        (#""user":{}"#, "user"),
        (#""n_predict":"many""#, "n_predict"),
        (#""max_completion_tokens":0"#, "max_completion_tokens"),
    ])
    func aClientsMistakeIsA400NamingTheField(field: String, param: String) throws {
        let error = try #require(throws: OpenAIError.self) { try parse("{" + Self.base + "," + field + "}") }
        #expect(error.status.code == 400)
        #expect(error.param == param, "\(error.message)")
    }

    @Test(arguments: [
        (#"[{"role":"user","content":[{"type":"text","text":5}]}]"#, "messages[0].content[0].text"),
        (#"[{"role":"user","content":[{"type":"video"}]}]"#, "messages[0].content[0].type"),
        // llama-server answers an image part for a text model with 500.
        (#"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://x"}}]}]"#, "messages[0].content[0].type"),
        (#"[{"role":"user","content":[7]}]"#, "messages[0].content[0]"),
        (#"[{"role":"user","content":"hi","name":3}]"#, "messages[0].name"),
        (#"[{"role":"tool","content":"42"}]"#, "messages[0].tool_call_id"),
        (#"[{"role":"user","content":"hi","tool_calls":[]}]"#, "messages[0].tool_calls"),
        (
            #"[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}]"#,
            "messages[0].tool_calls[0]"
        ),
    ])
    func malformedMessagesAreA400NamingTheField(messages: String, param: String) throws {
        let error = try #require(throws: OpenAIError.self) {
            try parse(#"{"model":"test-model","messages":"# + messages + "}")
        }
        #expect(error.param == param, "\(error.message)")
    }

    /// llama-server answers `"prompt": ["a", "b"]` with two completions: several prompts are several requests' work.
    @Test(arguments: [#"["a","b"]"#, #"[1,"a"]"#, #"[[1,2],[3]]"#, "[1.5]", "[-1]", "[true]", "[]"])
    func aCompletionTakesOnePrompt(prompt: String) throws {
        let error = try #require(throws: OpenAIError.self) {
            try parse(#"{"model":"m","prompt":"# + prompt + "}", endpoint: .completions)
        }
        #expect(error.param == "prompt")
        #expect(try parse(#"{"model":"m","prompt":["one"]}"#, endpoint: .completions).promptCharacters == 3)
        #expect(try parse(#"{"model":"m","prompt":[1,2,3]}"#, endpoint: .completions).promptCharacters == 12)
    }

    @Test func completionsFieldsAreCheckedToo() throws {
        let error = try #require(throws: OpenAIError.self) {
            try parse(#"{"model":"m","prompt":"p","logprobs":true}"#, endpoint: .completions)
        }
        #expect(error.param == "logprobs")
        #expect(try parse(#"{"model":"m","prompt":"p","logprobs":2,"echo":true,"suffix":"s"}"#, endpoint: .completions).engineBody == nil)
        // Chat-only fields do not reach a completions engine.
        let body = try #require(try parse(#"{"model":"m","prompt":"p","tools":[]}"#, endpoint: .completions).engineBody)
        #expect(!String(decoding: body, as: UTF8.self).contains("tools"))
    }

    @Test func validRequestsStillPass() throws {
        let json =
            "{" + Self.base
            + #","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],"#
            + #""tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false,"#
            + #""response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object"},"strict":true}},"#
            + #""stop":["\n"],"logit_bias":{"42":-100},"seed":-1,"presence_penalty":0.5,"logprobs":true,"top_logprobs":2,"#
            + #""top_k":40,"min_p":0.05,"repetition_penalty":1.1,"user":"u","n":1}"#
        #expect(try parse(json).engineBody == nil)
    }

    /// The whole path: `"tools": true` (llama-server answers it with 500) is a 400 naming `tools` that never
    /// reaches the engine, and `id_slot`, `n_predict` and `cache_prompt` never reach it either.
    @Test func throughTheGatewayEnginesSeeOnlyTheAllowList() async throws {
        let recorder = BodyRecorder()
        let engine = TestEngine { request, _, emit in
            recorder.record(request)
            for chunk in TestEngine.json(text: "ok") { try await emit(chunk) }
        }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: engine)]) { fleet in
            let refused = try await fleet.post(json: chatBody(model: "test-model", extra: ["tools": true]))
            #expect(refused.status == 400)
            #expect(refused.error?["param"] as? String == "tools")
            let answered = try await fleet.post(
                json: chatBody(model: "test-model", maxTokens: 2, extra: ["id_slot": 0, "n_predict": 4096, "cache_prompt": true]))
            #expect(answered.status == 200)
            let bodies = recorder.all
            #expect(bodies.count == 1)
            #expect(bodies.first?["id_slot"] == nil && bodies.first?["n_predict"] == nil)
            #expect(bodies.first?["max_tokens"] as? Int == 4096)
            #expect(bodies.first?["cache_prompt"] as? Bool == false, "the gateway's cache control, not the client's")
        }
    }

    /// The cost of the allow-list on the request path, printed: a body kept as sent and one rewritten, against the
    /// `JSONSerialization` parse the gateway does anyway. Debug builds inflate the parser's own loops; the release
    /// figures of the allow-list alone are in docs/BENCHMARKS.md.
    @Test func theAllowListCostsLittleBesideTheParse() throws {
        let content = String(repeating: "All work and no play makes a dull prompt. ", count: 200)  // ≈ 8 KiB
        let plain = try JSONSerialization.data(withJSONObject: chatBody(model: "test-model", content: content))
        let dirty = try JSONSerialization.data(
            withJSONObject: chatBody(model: "test-model", content: content, extra: ["id_slot": 1, "n_predict": 64]))
        let rounds = 200
        func time(_ body: Data) throws -> Duration {
            let clock = ContinuousClock()
            return try clock.measure {
                for _ in 0..<rounds { _ = try CompletionRequestParser.parse(body, endpoint: .chatCompletions, taskHeader: nil) }
            }
        }
        let kept = try time(plain)
        let rewritten = try time(dirty)
        let parseOnly = try ContinuousClock().measure {
            for _ in 0..<rounds { _ = try JSONSerialization.jsonObject(with: plain) }
        }
        #expect(try CompletionRequestParser.parse(plain, endpoint: .chatCompletions, taskHeader: nil).engineBody == nil)
        print(
            "allow-list (this build), 8 KiB chat body, per request: parse+validate+check \(kept / rounds), with rewrite \(rewritten / rounds),"
                + " JSONSerialization alone \(parseOnly / rounds)")
    }
}
