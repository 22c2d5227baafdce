import AsyncHTTPClient
import Foundation
import HearthNode
import Logging

/// The real engine and model that scripts/install-engine.sh installs. Tests that need them fail
/// with a clear message when they are missing, rather than skip silently.
enum LlamaSupport {
    static var cache: String {
        ProcessInfo.processInfo.environment["HEARTH_CACHE"] ?? (NSHomeDirectory() + "/.cache/hearth")
    }

    static let modelName = "smollm2"

    static func configuration(slots: Int = 2) throws -> LlamaServerConfiguration {
        let binary = cache + "/bin/llama-server"
        let model = cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard FileManager.default.isExecutableFile(atPath: binary), FileManager.default.fileExists(atPath: model) else {
            throw MissingEngine(message: "llama-server or the model is missing in \(cache): run scripts/install-engine.sh (make test does)")
        }
        var configuration = LlamaServerConfiguration(binary: binary, model: model, modelName: modelName)
        configuration.slots = slots
        return configuration
    }

    static func node(id: String, slots: Int = 2, client: HTTPClient) throws -> (TestNodeSpec, LlamaServerEngine) {
        var logger = Logger(label: "hearth.test.llama")
        logger.logLevel = .critical
        let engine = LlamaServerEngine(configuration: try configuration(slots: slots), client: client, logger: logger)
        return (TestNodeSpec(id: id, engine: engine, services: [engine]), engine)
    }

    /// Runs `body` with a client that has room for many concurrent engine requests, and shuts it down however
    /// `body` ends (a failed `#require` throws; a client released unshut would trap and hide that failure).
    static func withClient(_ body: (HTTPClient) async throws -> Void) async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        try await HTTPClient.withShutdown(configuration: configuration, body)
    }

    struct MissingEngine: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
