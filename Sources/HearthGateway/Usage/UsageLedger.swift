public import Logging
public import ServiceLifecycle
import Synchronization

/// Buffers usage records and writes them to the ``FleetStore`` in batches, off the request path.
///
/// Each record is taken from the buffer exactly once, by the writer loop or by ``flush()``, so no
/// record is written twice; graceful shutdown flushes what is left so none is lost. A batch the store could not
/// take (its database restarting) goes back to the front of the buffer and is written with the next one: rows are
/// idempotent by request id, so a batch that was in fact committed is only reported as duplicates.
public final class UsageLedger: Service {
    let store: any FleetStore
    private let logger: Logger
    /// Rows written, failed batches and rows pending, for `/metrics` (nil: not exported).
    private let metrics: GatewayMetrics?
    private let state = Mutex(State())
    /// Batches taken from `pending` and not yet committed.
    private let writers = BatchWriters()
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    private struct State {
        var pending: [UsageRecord] = []
        /// The commits answers wait for, by request id, until their rows are written.
        var commits: [String: UsageCommit] = [:]
    }

    /// Whether answers wait for their usage rows to commit before they end (``record(_:)`` returns a commit).
    let commitsBeforeAnswersEnd: Bool

    /// - Parameter commitsBeforeAnswersEnd: hand out a ``UsageCommit`` per record, for the relay to hold the end of
    ///   the answer until the row is written (replicas on a shared store, where a replica killed mid-flush must not
    ///   lose the bill of an answer its client has whole). Writes stay batched: each flush takes every row queued
    ///   meanwhile.
    package init(store: any FleetStore, logger: Logger, commitsBeforeAnswersEnd: Bool = false, metrics: GatewayMetrics? = nil) {
        self.metrics = metrics
        self.store = store
        self.logger = logger
        self.commitsBeforeAnswersEnd = commitsBeforeAnswersEnd
        (wakeups, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues a record for writing; returns what signals its commit when answers wait for it.
    @discardableResult
    package func record(_ record: UsageRecord) -> UsageCommit? {
        let commit = commitsBeforeAnswersEnd ? UsageCommit() : nil
        state.withLock { state in
            state.pending.append(record)
            if let commit { state.commits[record.requestID] = commit }
        }
        wake.yield()
        return commit
    }

    private func committed(_ batch: [UsageRecord]) {
        guard commitsBeforeAnswersEnd else { return }
        let commits = state.withLock { state in batch.compactMap { state.commits.removeValue(forKey: $0.requestID) } }
        for commit in commits { commit.markCommitted() }
    }

    /// Writes everything queued so far, and returns only once every batch taken before it (by the writer loop
    /// too) is committed. Tests call it before reading the store.
    public func flush() async throws {
        let batch = state.withLock { state in
            writers.begin()
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
        var failure: (any Error)?
        do {
            // Bounded: a query lost with its connection (the database restarting) must not stop every later row.
            try await StoreDeadline.run(within: Self.writeDeadline) { [store] in try await store.appendUsage(batch) }
            committed(batch)
        } catch let duplicates as FleetStoreError {
            // Written before (a retried batch): nothing is missing.
            logger.debug("usage rows already written", metadata: ["requests": "\(duplicates.requestIDs.count)"])
            committed(batch)
        } catch {
            failure = error
            requeue(batch)
        }
        writers.end()
        metrics?.usageBatch(
            written: failure == nil ? batch.count : 0, failed: failure != nil, pending: state.withLock { $0.pending.count })
        if let failure { throw failure }
        await writers.waitUntilIdle()
    }

    /// Rows kept for a store that refuses them, at most: past it the oldest are dropped (and logged), so an outage
    /// of the database can cost rows but never the gateway's memory.
    static let maximumPending = 1_000_000
    /// How long one batch's write may take before it counts as failed and goes back to the queue.
    static let writeDeadline: Duration = .seconds(5)

    private func requeue(_ batch: [UsageRecord]) {
        let dropped = state.withLock { state -> Int in
            state.pending.insert(contentsOf: batch, at: 0)
            let excess = max(0, state.pending.count - Self.maximumPending)
            state.pending.removeFirst(excess)
            return excess
        }
        if dropped > 0 { logger.error("usage rows dropped: the store refused them for too long", metadata: ["rows": "\(dropped)"]) }
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
