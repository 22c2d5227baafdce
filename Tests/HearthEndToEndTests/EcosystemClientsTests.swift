import Foundation
import Testing

/// LangChain's `ChatOpenAI` and the `llm` command line tool against the gateway, with the real engine behind it
/// (issue 16): the clients people build on, not only OpenAI's own.
@Suite("LangChain and llm", .serialized)
struct EcosystemClientsTests {
    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/ecosystem_clients_check.py").path
    }

    @Test("ChatOpenAI invokes and streams; llm -m answers")
    func langChainAndLLM() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: OpenAIClientTests.python),
            "no Python with langchain-openai and llm at \(OpenAIClientTests.python): run scripts/test.sh (make test)")
        try await LlamaSupport.withClient { engineClient in
            let (node, _) = try LlamaSupport.node(id: "llama-1", client: engineClient)
            try await withTestFleet(nodes: [node]) { fleet in
                let output = try await OpenAIClientTests.run(
                    OpenAIClientTests.python, [Self.script, fleet.baseURL, fleet.apiKey, LlamaSupport.modelName])
                let result = try #require(
                    try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "script printed: \(output)")
                #expect((result["langchain_text"] as? String)?.isEmpty == false)
                #expect((result["langchain_usage"] as? Int ?? 0) > 0)
                #expect((result["langchain_stream_chunks"] as? Int ?? 0) > 1)
                #expect((result["langchain_stream_text"] as? String)?.isEmpty == false)
                #expect(result["llm_status"] as? Int == 0, "\(result["llm_error"] ?? "")")
                #expect((result["llm_text"] as? String)?.isEmpty == false)
            }
        }
    }
}
