public import Logging
public import ServiceLifecycle
import Synchronization

/// Buffers usage records and writes them to the ``FleetStore`` in batches, off the request path.
///
/// Each record is taken from the buffer exactly once, by the writer loop or by ``flush()``, so no
/// record is written twice; graceful shutdown flushes what is left so none is lost.
public final class UsageLedger: Service {
    private let store: any FleetStore
    private let logger: Logger
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    private struct State {
        var pending: [UsageRecord] = []
    }

    package init(store: any FleetStore, logger: Logger) {
        self.store = store
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues a record for writing.
    package func record(_ record: UsageRecord) {
        state.withLock { $0.pending.append(record) }
        wake.yield()
    }

    /// Writes everything queued so far. Tests call it before reading the store.
    public func flush() async throws {
        let batch = state.withLock { state in
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
        try await store.appendUsage(batch)
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in wakeups.cancelOnGracefulShutdown() {
                do { try await flush() } catch { logger.error("usage write failed: \(error)") }
            }
        } onGracefulShutdown: {
            self.wake.finish()
        }
        do { try await flush() } catch { logger.error("final usage write failed: \(error)") }
    }
}
