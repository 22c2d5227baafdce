import Synchronization

/// A value that becomes available once; any number of tasks can await it.
package final class ReadySignal<Value: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Value, Never>])
        case ready(Value)
    }

    private let state = Mutex(State.waiting([]))

    package init() {}

    package func fulfil(_ value: Value) {
        let waiters = state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .ready(value)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    package func value() async -> Value {
        await withCheckedContinuation { waiter in
            let ready = state.withLock { state -> Value? in
                switch state {
                case .ready(let value):
                    return value
                case .waiting(var waiters):
                    waiters.append(waiter)
                    state = .waiting(waiters)
                    return nil
                }
            }
            if let ready { waiter.resume(returning: ready) }
        }
    }
}
