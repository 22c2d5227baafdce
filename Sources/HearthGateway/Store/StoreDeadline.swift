import Synchronization

/// A store call with a deadline. A database that goes away in the middle of a query (a restart, a failover) must not
/// hold the caller for ever: past the deadline the caller gets ``Exceeded`` and moves on, and the call, cancelled, is
/// left to end on its own (writes are idempotent, so one that commits late is only a duplicate).
enum StoreDeadline {
    struct Exceeded: Error, CustomStringConvertible {
        var limit: Duration
        var description: String { "the fleet store did not answer within \(limit)" }
    }

    static func run<Result: Sendable>(
        within limit: Duration, _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let outcome = Outcome<Result>()
        return try await withCheckedThrowingContinuation { continuation in
            outcome.set(continuation)
            let work = Task {
                do { outcome.finish(with: .success(try await operation())) } catch { outcome.finish(with: .failure(error)) }
            }
            Task {
                try? await Task.sleep(for: limit)
                if outcome.finish(with: .failure(Exceeded(limit: limit))) { work.cancel() }
            }
        }
    }

    /// Resumes the caller once: with the call's result or with the deadline, whichever comes first.
    private final class Outcome<Value: Sendable>: Sendable {
        private let continuation = Mutex<CheckedContinuation<Value, any Error>?>(nil)

        func set(_ continuation: CheckedContinuation<Value, any Error>) { self.continuation.withLock { $0 = continuation } }

        @discardableResult
        func finish(with result: Result<Value, any Error>) -> Bool {
            guard
                let waiting = continuation.withLock({ state -> CheckedContinuation<Value, any Error>? in
                    defer { state = nil }
                    return state
                })
            else { return false }
            waiting.resume(with: result)
            return true
        }
    }
}
