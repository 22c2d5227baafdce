internal import CMosquitto
import Synchronization

/// The state libmosquitto's callbacks touch, shared between its network thread and Swift tasks.
///
/// libmosquitto calls back on its own thread (`mosquitto_loop_start`) with the `obj` pointer given to
/// `mosquitto_new`: an unretained pointer to this object. That is safe because ``MQTTClient`` owns it and joins
/// the network thread (`mosquitto_loop_stop`) before releasing it. Continuations are resumed outside the lock.
final class MosquittoCallbacks: Sendable {
    enum ConnectPhase {
        case idle
        case awaiting(CheckedContinuation<Void, any Error>?)
        case finished(Result<Void, MQTTError>)
    }

    struct State {
        var connect = ConnectPhase.idle
        var isConnected = false
        var hasConnected = false
        var subscriptions: [(filter: String, qos: Int32)] = []
        var subackWaiters: [Int32: CheckedContinuation<Void, any Error>] = [:]
        /// SUBACKs that arrived before anyone waited for them.
        var ackedMids: Set<Int32> = []
        var statistics = MQTTClient.Statistics()
    }

    let state = Mutex(State())
    /// Bumped on every connect and disconnect, for ``MQTTClient/waitUntilConnected(timeout:)``.
    let connectionChanges = ChangeSignal()
    let continuation: AsyncStream<MQTTMessage>.Continuation
    let maximumPayloadBytes: Int

    init(continuation: AsyncStream<MQTTMessage>.Continuation, maximumPayloadBytes: Int) {
        self.continuation = continuation
        self.maximumPayloadBytes = maximumPayloadBytes
    }

    // MARK: Called from libmosquitto's thread

    func didConnect(_ mosq: OpaquePointer?, rc: Int32) {
        let outcome: Result<Void, MQTTError> =
            rc == 0
            ? .success(())
            : .failure(
                MQTTError(
                    code: rc == 4 || rc == 5 ? .notAuthorized : .connectionRefused,
                    message: "the broker refused the connection: \(MosquittoLibrary.connackText(rc))", returnCode: rc))
        let (waiter, resubscribe) = state.withLock { s -> (CheckedContinuation<Void, any Error>?, [(filter: String, qos: Int32)]) in
            var resubscribe: [(filter: String, qos: Int32)] = []
            if rc == 0 {
                s.isConnected = true
                if s.hasConnected {
                    s.statistics.reconnects += 1
                    resubscribe = s.subscriptions  // clean session: the broker forgot them
                }
                s.hasConnected = true
            }
            guard case .awaiting(let waiter) = s.connect else { return (nil, resubscribe) }
            s.connect = .finished(outcome)
            return (waiter, resubscribe)
        }
        waiter?.resume(with: outcome)
        connectionChanges.bump()
        for subscription in resubscribe {
            _ = mosquitto_subscribe(mosq, nil, subscription.filter, subscription.qos)
        }
    }

    func didDisconnect(rc: Int32) {
        let error = MQTTError(
            code: .connectionFailed, message: "connection lost: \(MosquittoLibrary.errorText(rc))", returnCode: rc)
        let (waiter, subacks) = state.withLock { s -> (CheckedContinuation<Void, any Error>?, [CheckedContinuation<Void, any Error>]) in
            if s.isConnected, rc != 0 { s.statistics.disconnects += 1 }
            s.isConnected = false
            let subacks = Array(s.subackWaiters.values)
            s.subackWaiters = [:]
            guard case .awaiting(let waiter) = s.connect else { return (nil, subacks) }
            s.connect = .finished(.failure(error))
            return (waiter, subacks)
        }
        waiter?.resume(throwing: error)
        for suback in subacks { suback.resume(throwing: error) }
        connectionChanges.bump()
    }

    func didSubscribe(mid: Int32) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if let waiter = s.subackWaiters.removeValue(forKey: mid) { return waiter }
            if s.ackedMids.count > 1_024 { s.ackedMids.removeAll() }
            s.ackedMids.insert(mid)
            return nil
        }
        waiter?.resume()
    }

    func didReceive(_ message: UnsafePointer<mosquitto_message>) {
        let m = message.pointee
        guard let cTopic = m.topic, let topic = String(validatingCString: cTopic) else {
            state.withLock { $0.statistics.invalidTopics += 1 }
            return
        }
        let length = Int(max(0, m.payloadlen))
        let tooLarge = length > maximumPayloadBytes
        let payload: [UInt8] =
            tooLarge || length == 0 || m.payload == nil
            ? [] : Array(UnsafeRawBufferPointer(start: m.payload, count: length))
        state.withLock {
            $0.statistics.messagesReceived += 1
            if tooLarge { $0.statistics.oversizePayloads += 1 }
        }
        continuation.yield(MQTTMessage(topic: topic, payload: payload, retained: m.retain, payloadTooLarge: tooLarge))
    }

    // MARK: Called from Swift tasks

    func beginConnect() {
        state.withLock { $0.connect = .awaiting(nil) }
    }

    func remember(filter: String, qos: Int32) {
        state.withLock { s in
            if !s.subscriptions.contains(where: { $0.filter == filter }) { s.subscriptions.append((filter, qos)) }
        }
    }

    /// Waits for the outcome of the connection begun with ``beginConnect()``.
    func waitForConnect() async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let ready = state.withLock { s -> Result<Void, MQTTError>? in
                    switch s.connect {
                    case .finished(let outcome): return outcome
                    case .awaiting, .idle:
                        s.connect = .awaiting(c)
                        return nil
                    }
                }
                if let ready { c.resume(with: ready) }
                // Cancelled before the waiter was stored: the handler below found nothing to resume.
                if Task.isCancelled { cancelConnectWaiter() }
            }
        } onCancel: {
            cancelConnectWaiter()
        }
    }

    private func cancelConnectWaiter() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            guard case .awaiting(let waiter?) = s.connect else { return nil }
            s.connect = .awaiting(nil)
            return waiter
        }
        waiter?.resume(throwing: CancellationError())
    }

    func waitForSubAck(mid: Int32) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let acked = state.withLock { s -> Bool in
                    if s.ackedMids.remove(mid) != nil { return true }
                    s.subackWaiters[mid] = c
                    return false
                }
                if acked { c.resume() }
                if Task.isCancelled { cancelSubAckWaiter(mid) }
            }
        } onCancel: {
            cancelSubAckWaiter(mid)
        }
    }

    private func cancelSubAckWaiter(_ mid: Int32) {
        state.withLock { $0.subackWaiters.removeValue(forKey: mid) }?.resume(throwing: CancellationError())
    }
}
