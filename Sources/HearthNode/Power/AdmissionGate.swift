import Synchronization

/// Whether the node takes new streams, and the hand-back of running ones: shared by the power controller
/// (which pauses, resumes and drains) and the tunnel (which refuses opens and hands streams back).
public final class AdmissionGate: Sendable {
    private struct State {
        var admitting: Bool
        var handBackHandlers: [Int: @Sendable () -> Void] = [:]
        var nextHandler = 0
    }

    private let state: Mutex<State>

    public init(admitting: Bool = true) {
        state = Mutex(State(admitting: admitting))
    }

    public var isAdmitting: Bool { state.withLock { $0.admitting } }

    public func pause() { state.withLock { $0.admitting = false } }
    public func resume() { state.withLock { $0.admitting = true } }

    /// Asks every registered tunnel to hand its running streams back to the gateway.
    public func handBack() {
        let handlers = state.withLock { Array($0.handBackHandlers.values) }
        for handler in handlers { handler() }
    }

    func onHandBack(_ handler: @escaping @Sendable () -> Void) -> Int {
        state.withLock { state in
            defer { state.nextHandler += 1 }
            state.handBackHandlers[state.nextHandler] = handler
            return state.nextHandler
        }
    }

    func removeHandBack(_ id: Int) {
        _ = state.withLock { $0.handBackHandlers.removeValue(forKey: id) }
    }
}
