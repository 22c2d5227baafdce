import ArgumentParser
import AsyncHTTPClient
import Foundation

/// `hearth chat "prompt"`: streams an answer from a running gateway to the terminal.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Stream an answer from a running gateway to the terminal."
    )

    @Argument(help: "What to ask.")
    var prompt: String

    @Option(help: "The gateway's base URL.")
    var url: String = "http://127.0.0.1:8080"

    @Option(help: "API key (default: read from --api-key-file).")
    var apiKey: String?

    @Option(help: "File holding the API key.")
    var apiKeyFile: String = ".hearth/dev-api-key"

    @Option(help: "Model (default: the first the gateway lists).")
    var model: String?

    @Option(help: "Largest number of tokens to generate.")
    var maxTokens: Int = 256

    func run() async throws {
        let key: String
        if let apiKey {
            key = apiKey
        } else {
            guard let text = try? String(contentsOfFile: apiKeyFile, encoding: .utf8) else {
                throw ValidationError("no --api-key given and \(apiKeyFile) cannot be read; is `hearth up` running here?")
            }
            key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        do {
            try await HTTPClient.withShutdown { client in
                try await ChatClient.stream(
                    baseURL: url.hasSuffix("/") ? String(url.dropLast()) : url,
                    apiKey: key,
                    model: model,
                    prompt: prompt,
                    maxTokens: maxTokens,
                    client: client
                ) { text in
                    printFlushed(text)
                }
            }
            print()
        } catch {
            throw ValidationErrorMessage("\(error)")
        }
    }
}
