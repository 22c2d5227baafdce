package import NIOCore
import Synchronization

/// Whether this replica takes new requests, and how many it is serving: what a drain waits on.
///
/// A replica that is shutting down stops taking requests at once (a load balancer sees `/readyz` answer 503 and a
/// client that still arrives gets a 503 it can retry elsewhere) and lets the requests it took finish.
package final class RequestAdmission: Sendable {
    private struct State {
        var draining = false
        /// Each request in flight, by the number ``enter(_:)`` gave it, with its client's connection.
        var requests: [UInt64: any Channel] = [:]
        var nextNumber: UInt64 = 0
        var inFlight: Int { requests.count }
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    package init() {}

    /// Takes a request that arrived on `client` unless the replica is draining: returns its number, which one
    /// ``leave(_:)`` must give back, or nil.
    package func enter(_ client: any Channel) -> UInt64? {
        state.withLock { state in
            guard !state.draining else { return nil }
            state.nextNumber += 1
            state.requests[state.nextNumber] = client
            return state.nextNumber
        }
    }

    /// The request numbered `number` is over.
    package func leave(_ number: UInt64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.requests[number] = nil
            guard state.inFlight == 0 else { return [] }
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    package var isDraining: Bool { state.withLock { $0.draining } }
    package var inFlight: Int { state.withLock { $0.inFlight } }

    /// Stops taking requests. Idempotent.
    package func beginDrain() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.draining = true
            defer { state.drainWaiters = [] }
            return state.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The drain time is over: closes the connections of the clients still served, which ends their requests as a
    /// client's hang-up does (the node streams are cancelled, the usage settled).
    package func cutRequestsInFlight() {
        let clients = state.withLock { Array($0.requests.values) }
        for client in clients { client.close(promise: nil) }
    }

    /// Returns once the replica drains (at once if it already is).
    package func drainBegan() async {
        await withCheckedContinuation { waiter in
            let now = state.withLock { state in
                if !state.draining { state.drainWaiters.append(waiter) }
                return state.draining
            }
            if now { waiter.resume() }
        }
    }

    /// Returns once no request is in flight (at once if none is), or when the calling task is cancelled.
    package func idle() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { waiter in
                let now = state.withLock { state in
                    let now = state.inFlight == 0 || Task.isCancelled
                    if !now { state.idleWaiters.append(waiter) }
                    return now
                }
                if now { waiter.resume() }
            }
        } onCancel: {
            let waiters = state.withLock { state in
                defer { state.idleWaiters = [] }
                return state.idleWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }
}
