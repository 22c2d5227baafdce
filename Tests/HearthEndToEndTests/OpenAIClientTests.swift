import Foundation
import Testing

/// The official Python `openai` package against the gateway, with the real engine behind it.
@Suite("Official OpenAI Python client", .serialized)
struct OpenAIClientTests {
    static var python: String {
        let environment = ProcessInfo.processInfo.environment
        return environment["HEARTH_PYTHON"] ?? (LlamaSupport.cache + "/venv/bin/python")
    }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Clients/openai_client_check.py").path
    }

    @Test("streams, answers, lists models and maps errors as the SDK expects")
    func officialClient() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.python),
            "no Python with the openai package at \(Self.python): run scripts/test.sh (make test)"
        )
        try await LlamaSupport.withClient { engineClient in
            let (node, _) = try LlamaSupport.node(id: "llama-1", client: engineClient)
            try await withTestFleet(nodes: [node]) { fleet in
                let output = try await Self.run(Self.python, [Self.script, fleet.baseURL, fleet.apiKey, LlamaSupport.modelName])
                let result = try #require(
                    try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "script printed: \(output)")
                #expect((result["stream_text"] as? String)?.isEmpty == false)
                #expect((result["stream_chunks"] as? Int ?? 0) > 1)
                let usage = result["stream_usage"] as? [String: Any]
                #expect((usage?["completion_tokens"] as? Int ?? 0) > 0)
                #expect(result["stream_finish"] as? String != nil)
                #expect((result["plain_text"] as? String)?.isEmpty == false)
                #expect(result["choices_indices"] as? [Int] == [0, 1])
                #expect(result["choices_texts"] as? [Bool] == [true, true])
                let choicesUsage = result["choices_usage"] as? [Int]
                #expect((choicesUsage?.first ?? 0) > 0 && (choicesUsage?.last ?? 0) >= 2)
                #expect(result["choices_streamed"] as? [Int] == [0, 1])
                #expect(result["choices_streamed_texts"] as? [Bool] == [true, true])
                #expect(result["models"] as? [String] == [LlamaSupport.modelName])
                #expect(result["retrieved"] as? String == LlamaSupport.modelName)
                #expect(result["retrieve_unknown"] as? String == "model_not_found")
                #expect(result["unknown_model"] as? String == "model_not_found")
                #expect(result["bad_key"] as? String == "invalid_api_key")
                #expect(result["bad_request"] as? String == "messages")
            }
        }
    }

    /// Runs a process to completion off the cooperative pool and returns its standard output.
    static func run(_ executable: String, _ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            let stdout = Pipe()
            let stderr = Pipe()
            process.standardOutput = stdout
            process.standardError = stderr
            process.terminationHandler = { process in
                let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                if process.terminationStatus == 0 {
                    continuation.resume(returning: output)
                } else {
                    continuation.resume(throwing: ProcessFailure(status: process.terminationStatus, output: output + errors))
                }
            }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
    }

    struct ProcessFailure: Error, CustomStringConvertible {
        var status: Int32
        var output: String
        var description: String { "exited with \(status): \(output)" }
    }
}
