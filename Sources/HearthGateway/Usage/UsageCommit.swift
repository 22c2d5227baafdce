import Synchronization

/// Signals that one usage row is committed to the fleet store. A replica among several holds the end of an answer
/// until its row is committed (``UsageLedger/init(store:logger:commitsBeforeAnswersEnd:)``), so that a replica killed
/// at any moment never leaves a client with a complete answer and the fleet without its bill.
package final class UsageCommit: Sendable {
    private let state = Mutex<(committed: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    package func markCommitted() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.committed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    package var isCommitted: Bool { state.withLock { $0.committed } }

    /// Waits for the commit, at most `limit`; returns whether it came. One caller at a time.
    package func wait(atMost limit: Duration) async -> Bool {
        if isCommitted { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.untilCommittedOrCancelled()
                return self.isCommitted
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return self.isCommitted
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || isCommitted
        }
    }

    private func untilCommittedOrCancelled() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let committed = state.withLock { state in
                    if !state.committed { state.waiter = continuation }
                    return state.committed
                }
                if committed { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
