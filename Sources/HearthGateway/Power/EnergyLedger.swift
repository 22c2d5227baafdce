import Foundation
import HearthCore
import Logging
import Synchronization

/// Buffers the energy intervals nodes report and writes them to the ``FleetStore`` together, once per
/// ``flushInterval``: the store commits (and fsyncs) once per flush for the whole fleet, so no heartbeat costs an
/// fsync of its own, however many nodes report or however often.
///
/// The buffer is bounded (``maximumPending``): past it new records are dropped and counted, never held in memory
/// without limit. Each record is taken from the buffer exactly once.
final class EnergyLedger: Sendable {
    let flushInterval: Duration
    let maximumPending: Int
    private let store: any FleetStore
    private let logger: Logger
    private let state = Mutex(State())
    /// Batches taken from `pending` and not yet committed.
    private let writers = BatchWriters()

    private struct State {
        var pending: [EnergyRecord] = []
        var dropped = 0
        var flushes = 0
    }

    init(store: any FleetStore, logger: Logger, flushInterval: Duration = .seconds(1), maximumPending: Int = 100_000) {
        self.store = store
        self.logger = logger
        self.flushInterval = flushInterval
        self.maximumPending = max(1, maximumPending)
    }

    /// Queues records for the next flush.
    func record(_ records: [EnergyRecord]) {
        let dropped = state.withLock { state -> Int in
            let room = max(0, maximumPending - state.pending.count)
            state.pending.append(contentsOf: records.prefix(room))
            state.dropped &+= records.count - min(room, records.count)
            return records.count - min(room, records.count)
        }
        if dropped > 0 { logger.warning("energy ledger buffer full; dropped intervals", metadata: ["count": "\(dropped)"]) }
    }

    /// Records waiting for the next flush.
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Store writes so far (one transaction each, whatever their size).
    var flushCount: Int { state.withLock { $0.flushes } }

    /// Writes everything queued in one store call, and returns only once every batch taken before it (by the flush
    /// loop too) is committed; returns how many intervals this call's batch added.
    @discardableResult
    func flush() async throws -> Int {
        let batch = state.withLock { state -> [EnergyRecord] in
            defer { state.pending.removeAll(keepingCapacity: true) }
            writers.begin()
            if !state.pending.isEmpty { state.flushes += 1 }
            return state.pending
        }
        var result: Result<Int, any Error> = .success(0)
        if !batch.isEmpty {
            do { result = .success(try await store.recordEnergy(batch)) } catch { result = .failure(error) }
        }
        writers.end()
        await writers.waitUntilIdle()
        return try result.get()
    }

    /// Flushes every ``flushInterval`` until cancelled, then once more so nothing queued is lost.
    func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: flushInterval) } catch { break }
            await flushLogging()
        }
        await flushLogging()
    }

    private func flushLogging() async {
        do { try await flush() } catch { logger.error("could not record energy", metadata: ["error": "\(error)"]) }
    }
}
