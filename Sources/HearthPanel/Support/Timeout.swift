/// Runs `body`, throwing `timeoutError()` if it has not finished within `timeout` (the body is then cancelled,
/// so it must end promptly on cancellation).
func withTimeout<T: Sendable>(
    _ timeout: Duration, _ timeoutError: @escaping @Sendable () -> any Error, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw timeoutError()
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw CancellationError() }
        return result
    }
}
