import Foundation
import HearthCore
import HearthGateway
import HearthNode
import Testing

/// A hostile client against the real engine: valid JSON with hostile values in the fields engines read. Before the
/// gateway checked them, 27 of 1,500 such requests came back as 500 (`"tools": true`, an image part for a text
/// model, ...). Now a client's mistake is a 400 and the engine never answers it with 500.
@Suite("Hostile clients against llama-server", .serialized)
struct LlamaClientFuzzTests {
    static let fields = [
        "tools", "tool_choice", "response_format", "stop", "logit_bias", "seed", "temperature", "top_p", "top_k", "min_p",
        "presence_penalty", "frequency_penalty", "repetition_penalty", "logprobs", "top_logprobs", "n", "max_tokens",
        "max_completion_tokens", "parallel_tool_calls", "user", "stream_options", "messages", "stream", "n_predict", "id_slot",
        "slot_id", "cache_prompt", "samplers", "lora", "chat_template", "grammar", "json_schema", "n_probs", "return_progress",
    ]

    static let values = [
        "true", "false", "null", "0", "-1", "1", "2.5", "-0.5", "1e308", "-1e308", "9223372036854775807", "18446744073709551616",
        "\"\"", #""x""#, #""auto""#, #""none""#, #""required""#, "[]", "[1]", #"[""]"#, #"["a","b"]"#, "[null]", "{}",
        #"{"type":"function"}"#, #"{"type":"json_object"}"#, #"{"type":"text"}"#,
        #"{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"nonsense"}}}"#,
        ##"{"type":"json_schema","json_schema":{"name":"s","schema":{"$ref":"#/nowhere"}}}"##,
        #"{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}"#,
        #"[{"type":"function","function":{"name":"f"}}]"#,
        #"[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"nonsense"}}}}}]"#,
        #"{"type":"function","function":{"name":"f"}}"#, #"{"1":1}"#, #"{"1":-1000}"#, #"{"abc":1}"#,
        #"[{"role":"user","content":"hi"}]"#, #"[{"role":"user","content":[{"type":"text","text":"hi"}]}]"#,
        #"[{"role":"tool","content":"x","tool_call_id":"c"}]"#, #"[{"role":"assistant","content":null}]"#,
        #"[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://x"}}]}]"#,
        #"[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]"#,
        #"[{"role":"user","content":""}]"#, #"{"include_usage":"yes"}"#, #"{"include_usage":true}"#,
        #""\u0000\ud800""#, #"["min_p","top_k","nonsense"]"#,
    ]

    typealias Generator = GatewayFuzzTests.Generator

    static func body(_ rng: inout Generator) -> String {
        var members: [String: String] = [
            "model": #""\#(LlamaSupport.modelName)""#, "messages": #"[{"role":"user","content":"Say hi."}]"#, "max_tokens": "2",
        ]
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            members[fields.randomElement(using: &rng)!] = values.randomElement(using: &rng)!
        }
        // Engines cap nothing themselves: keep every answer short so that the run stays quick.
        if let limit = members["max_tokens"], let value = Double(limit), value > 8 { members["max_tokens"] = "2" }
        return "{" + members.sorted { $0.key < $1.key }.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",") + "}"
    }

    @Test func noClientMistakeComesBackAs500() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["HEARTH_FUZZ_SEED"] ?? "") ?? 0x4C4C_414D_41
        let cases = Int(ProcessInfo.processInfo.environment["HEARTH_LLAMA_FUZZ_CASES"] ?? "") ?? 150
        try await LlamaSupport.withClient { client in
            let (node, _) = try LlamaSupport.node(id: "llama", client: client)
            try await withTestFleet(nodes: [node]) { fleet in
                var rng = Generator(state: seed)
                var statuses: [Int: Int] = [:]
                for _ in 0..<cases {
                    let body = Self.body(&rng)
                    let answer = try await fleet.post("/v1/chat/completions", body: Data(body.utf8), apiKey: fleet.apiKey)
                    statuses[answer.status, default: 0] += 1
                    #expect(answer.status < 500, "\(answer.status) for \(body): \(answer.body.prefix(300))")
                    #expect(answer.status == 200 || answer.error?["message"] != nil, "\(body)")
                    for field in ["cached_tokens", "timings", "prompt_progress"] {
                        #expect(!answer.body.contains(field), "\(field) reached a client for \(body)")
                    }
                }
                print(
                    "hostile clients against llama-server, \(cases) requests (seed \(seed)): statuses \(statuses.sorted { $0.key < $1.key })"
                )
            }
        }
    }
}
