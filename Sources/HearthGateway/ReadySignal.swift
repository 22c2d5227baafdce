import Synchronization

/// A value that becomes available once, or a failure that says it never will; any number of tasks can await it, and a
/// waiting task that is cancelled stops waiting.
package final class ReadySignal<Value: Sendable>: Sendable {
    private enum State {
        case waiting([Int: CheckedContinuation<Value, any Error>], next: Int)
        case ready(Value)
        case failed(any Error)
    }

    private let state = Mutex(State.waiting([:], next: 0))

    package init() {}

    package func fulfil(_ value: Value) {
        settle(.success(value))
    }

    /// The value will never come (a listener could not bind): every waiter, present and future, gets `error`.
    package func fail(_ error: any Error) {
        settle(.failure(error))
    }

    private func settle(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, any Error>] in
            guard case .waiting(let waiters, _) = state else { return [] }
            switch result {
            case .success(let value): state = .ready(value)
            case .failure(let error): state = .failed(error)
            }
            return Array(waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    package func value() async throws -> Value {
        let id = Mutex<Int?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { waiter in
                let settled = state.withLock { state -> Result<Value, any Error>? in
                    switch state {
                    case .ready(let value):
                        return .success(value)
                    case .failed(let error):
                        return .failure(error)
                    case .waiting(var waiters, let next):
                        if Task.isCancelled { return .failure(CancellationError()) }
                        waiters[next] = waiter
                        state = .waiting(waiters, next: next + 1)
                        id.withLock { $0 = next }
                        return nil
                    }
                }
                if let settled { waiter.resume(with: settled) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
                guard case .waiting(var waiters, let next) = state, let key = id.withLock({ $0 }) else { return nil }
                defer { state = .waiting(waiters, next: next) }
                return waiters.removeValue(forKey: key)
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
