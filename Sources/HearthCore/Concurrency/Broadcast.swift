import Synchronization

/// Fans each value out to every current subscriber, each an `AsyncStream`; a subscriber that stops iterating is
/// dropped. The registry's events, power reports and decisions, and the audit log's events all use it.
public final class Broadcast<Element: Sendable>: Sendable {
    private let state = Mutex<(next: Int, subscribers: [Int: AsyncStream<Element>.Continuation])>((0, [:]))

    public init() {}

    /// Values yielded from now on.
    public func subscribe() -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream<Element>.makeStream()
        let id = state.withLock { state in
            defer { state.next += 1 }
            state.subscribers[state.next] = continuation
            return state.next
        }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) } }
        return stream
    }

    public func yield(_ value: Element) {
        for subscriber in state.withLock({ Array($0.subscribers.values) }) { subscriber.yield(value) }
    }
}
