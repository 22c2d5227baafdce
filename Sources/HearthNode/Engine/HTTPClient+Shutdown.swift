public import AsyncHTTPClient

extension HTTPClient {
    /// Runs `body` with a new client on the shared event loops and shuts it down however `body` ends; a client
    /// released without `shutdown()` traps in debug builds, so no error path may skip it.
    public static func withShutdown<Result>(
        configuration: HTTPClient.Configuration = .init(), _ body: (HTTPClient) async throws -> Result
    ) async throws -> Result {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let result: Result
        do {
            result = try await body(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return result
    }
}
