import Synchronization

/// The bytes a node may still send on one stream before the gateway grants more (flow control).
final class StreamCredit: Sendable {
    private struct State {
        var available: Int
        var waiter: (needed: Int, continuation: CheckedContinuation<Void, any Error>)?
        var cancelled = false
    }

    private let state: Mutex<State>

    init(initial: Int) {
        state = Mutex(State(available: initial))
    }

    /// Waits until `bytes` may be sent, then takes them. Throws `CancellationError` if the stream is cancelled.
    func take(_ bytes: Int) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelled { return .failure(CancellationError()) }
                    if state.available >= bytes {
                        state.available -= bytes
                        return .success(())
                    }
                    state.waiter = (bytes, continuation)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            cancel()
        }
    }

    func grant(_ bytes: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            state.available += bytes
            guard let waiter = state.waiter, state.available >= waiter.needed else { return nil }
            state.available -= waiter.needed
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    func cancel() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            state.cancelled = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume(throwing: CancellationError())
    }
}
