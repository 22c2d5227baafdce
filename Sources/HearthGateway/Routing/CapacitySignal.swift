import Synchronization

/// Fires when capacity may have freed (a request ended, a node joined). A queued request waits on
/// one, created before it asks the scheduler so no change between the two is missed.
final class CapacitySignal: Sendable {
    private let state = Mutex<(fired: Bool, waiter: CheckedContinuation<Bool, Never>?)>((false, nil))

    func fire() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            state.fired = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: true)
    }

    /// True when the signal fired within `seconds`, false when the time ran out.
    func wait(seconds: Double) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let fired = self.state.withLock { state -> Bool in
                        if !state.fired { state.waiter = continuation }
                        return state.fired
                    }
                    if fired { continuation.resume(returning: true) }
                }
            }
            group.addTask {
                // A deadline, not a wait for an event: the scheduler says the target is lost after it.
                try? await Task.sleep(for: .seconds(seconds))
                self.fire()
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            self.fire()  // release whichever task is still waiting
            await group.waitForAll()
            return first
        }
    }
}
