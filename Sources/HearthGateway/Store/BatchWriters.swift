import Synchronization

/// The batches of a ledger being written right now. A flush takes its batch and calls ``begin()`` under the ledger's
/// own lock (so no later flush can miss it), writes, calls ``end()``, then ``waitUntilIdle()``: it returns only once
/// every batch taken before it is committed. The usage and energy ledgers share it.
final class BatchWriters: Sendable {
    private let state = Mutex<(writing: Int, idle: [CheckedContinuation<Void, Never>])>((0, []))

    func begin() { state.withLock { $0.writing += 1 } }

    func end() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.writing -= 1
            guard state.writing == 0 else { return [] }
            defer { state.idle.removeAll() }
            return state.idle
        }
        for waiter in waiters { waiter.resume() }
    }

    func waitUntilIdle() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state in
                if state.writing > 0 { state.idle.append(continuation) }
                return state.writing == 0
            }
            if idle { continuation.resume() }
        }
    }
}
