import HearthProtocol
import HearthTunnel

/// Reads a ``RawNode``'s frames with a deadline: a gateway that neither answers nor closes fails the test
/// instead of hanging it. The deadline is a bound, never a wait for something to happen.
final class FrameReader: @unchecked Sendable {
    // @unchecked: one reader per test task; `next` is never called concurrently.
    enum Next: Sendable {
        case frame(TunnelFrame)
        case closed
        case timedOut
    }

    private var iterator: AsyncStream<TunnelFrame>.Iterator

    init(_ node: RawNode) { iterator = node.frames.makeAsyncIterator() }

    func next(within limit: Duration = .seconds(5)) async -> Next {
        await withTaskGroup(of: Next?.self) { group in
            group.addTask {
                var iterator = self.iterator
                return await iterator.next().map(Next.frame) ?? .closed
            }
            group.addTask {
                do { try await Task.sleep(for: limit) } catch { return nil }
                return .timedOut
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .timedOut
        }
    }

    /// The next frame, or nil when the connection closed or the deadline passed.
    func frame(within limit: Duration = .seconds(5)) async -> TunnelFrame? {
        if case .frame(let frame) = await next(within: limit) { return frame }
        return nil
    }
}
