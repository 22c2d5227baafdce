internal import CMosquitto
import Synchronization

/// A small MQTT 3.1.1 client over libmosquitto: connect (optionally TLS), subscribe, publish, and receive
/// messages as an `AsyncStream`.
///
/// libmosquitto runs its own network thread (`mosquitto_loop_start`) that keeps the connection alive and
/// reconnects after a loss with exponential backoff (`mosquitto_reconnect_delay_set`); subscriptions are
/// renewed after each reconnection. ``close()`` (or releasing the client) disconnects, joins that thread and
/// frees the library's client; ``messages`` then finishes.
///
/// ``messages`` is a single-consumer stream. Payloads over ``Configuration/maximumPayloadBytes`` are not copied:
/// they arrive with ``MQTTMessage/payloadTooLarge`` set and are counted in ``statistics``.
public final class MQTTClient: Sendable {
    public let configuration: Configuration
    /// Every message the broker sends this client, in order.
    public let messages: AsyncStream<MQTTMessage>

    private let handle: Handle
    private let callbacks: MosquittoCallbacks
    private let lifecycle = Mutex(Lifecycle.idle)

    private enum Lifecycle {
        case idle, running, closed
    }

    /// libmosquitto's client pointer. Its functions may be called from any thread while the library's own
    /// network thread runs (libmosquitto's threading notes for `mosquitto_loop_start`); it is freed only in deinit.
    private struct Handle: @unchecked Sendable {
        let raw: OpaquePointer
    }

    /// Creates the client; no I/O happens until ``connect()``.
    public init(configuration: Configuration) throws {
        guard MosquittoLibrary.initialized else {
            throw MQTTError(code: .library, message: "mosquitto_lib_init failed")
        }
        guard !configuration.host.isEmpty, (1...65_535).contains(configuration.port) else {
            throw MQTTError(code: .invalidConfiguration, message: "host must be non-empty and port in 1…65535")
        }
        self.configuration = configuration
        let (stream, continuation) = AsyncStream.makeStream(
            of: MQTTMessage.self, bufferingPolicy: .bufferingNewest(max(1, configuration.bufferedMessages)))
        messages = stream
        let callbacks = MosquittoCallbacks(continuation: continuation, maximumPayloadBytes: configuration.maximumPayloadBytes)
        self.callbacks = callbacks
        guard let raw = mosquitto_new(configuration.clientID, true, Unmanaged.passUnretained(callbacks).toOpaque()) else {
            continuation.finish()
            throw MQTTError(code: .invalidConfiguration, message: "mosquitto_new failed for client id \(configuration.clientID)")
        }
        handle = Handle(raw: raw)
        // From here on a throw runs deinit, which frees `raw`.
        try configure(raw)
    }

    deinit {
        if lifecycle.withLock({ $0 }) == .running { stopNetworkThread() }
        callbacks.continuation.finish()
        mosquitto_destroy(handle.raw)
    }

    private func configure(_ mosq: OpaquePointer) throws {
        let c = configuration
        if c.username != nil || c.password != nil {
            try check(mosquitto_username_pw_set(mosq, c.username, c.password), "setting the username and password")
        }
        if let tls = c.tls {
            try check(mosquitto_tls_set(mosq, tls.caFile, nil, tls.certificateFile, tls.keyFile, nil), "loading the TLS files")
            try check(mosquitto_tls_insecure_set(mosq, !tls.verifiesHostname), "setting TLS hostname checking")
        }
        let delays = c.reconnectDelaySeconds
        try check(
            mosquitto_reconnect_delay_set(mosq, UInt32(max(1, delays.lowerBound)), UInt32(max(1, delays.upperBound)), true),
            "setting the reconnect delay")
        if let will = c.will {
            let rc = will.payload.withUnsafeBytes {
                mosquitto_will_set(mosq, will.topic, Int32($0.count), $0.baseAddress, Int32(will.qos), will.retain)
            }
            try check(rc, "setting the last will")
        }
        mosquitto_connect_callback_set(mosq) { mosq, obj, rc in
            guard let obj else { return }
            Unmanaged<MosquittoCallbacks>.fromOpaque(obj).takeUnretainedValue().didConnect(mosq, rc: rc)
        }
        mosquitto_disconnect_callback_set(mosq) { _, obj, rc in
            guard let obj else { return }
            Unmanaged<MosquittoCallbacks>.fromOpaque(obj).takeUnretainedValue().didDisconnect(rc: rc)
        }
        mosquitto_subscribe_callback_set(mosq) { _, obj, mid, _, _ in
            guard let obj else { return }
            Unmanaged<MosquittoCallbacks>.fromOpaque(obj).takeUnretainedValue().didSubscribe(mid: mid)
        }
        mosquitto_message_callback_set(mosq) { _, obj, message in
            guard let obj, let message else { return }
            Unmanaged<MosquittoCallbacks>.fromOpaque(obj).takeUnretainedValue().didReceive(message)
        }
    }

    // MARK: Connection

    /// Connects and waits for the broker's CONNACK. Throws ``MQTTError`` with code `.notAuthorized` for bad
    /// credentials, `.connectionFailed` when the broker cannot be reached, `.timedOut` after
    /// ``Configuration/connectTimeout``. After a failure the client may try again.
    public func connect() async throws {
        try lifecycle.withLock { state in
            switch state {
            case .closed: throw MQTTError(code: .closed, message: "the client is closed")
            case .running: throw MQTTError(code: .invalidConfiguration, message: "already connected or connecting")
            case .idle: state = .running
            }
        }
        let c = configuration
        callbacks.beginConnect()
        var rc = mosquitto_connect_async(handle.raw, c.host, Int32(c.port), Int32(max(5, c.keepAliveSeconds)))
        if rc == 0 { rc = mosquitto_loop_start(handle.raw) }
        guard rc == 0 else {
            lifecycle.withLock { $0 = .idle }
            throw MQTTError(
                code: .connectionFailed, message: "cannot connect to \(c.host):\(c.port): \(MosquittoLibrary.errorText(rc))", returnCode: rc
            )
        }
        do {
            let callbacks = self.callbacks
            let timeout = c.connectTimeout
            try await withTimeout(timeout, { MQTTError(code: .timedOut, message: "no CONNACK from \(c.host):\(c.port) within \(timeout)") })
            {
                try await callbacks.waitForConnect()
            }
        } catch {
            stopNetworkThread()
            lifecycle.withLock { if $0 == .running { $0 = .idle } }
            throw error
        }
    }

    /// Whether the client holds a connection now (false while libmosquitto is reconnecting).
    public var isConnected: Bool { callbacks.state.withLock { $0.isConnected } }

    /// Waits until the client holds a connection (e.g. after libmosquitto reconnected by itself).
    public func waitUntilConnected(timeout: Duration = .seconds(30)) async throws {
        let callbacks = self.callbacks
        try await withTimeout(timeout, { MQTTError(code: .timedOut, message: "not connected within \(timeout)") }) {
            while true {
                let seen = callbacks.connectionChanges.generation
                if callbacks.state.withLock({ $0.isConnected }) { return }
                try Task.checkCancellation()
                await callbacks.connectionChanges.wait(after: seen)
            }
        }
    }

    public var statistics: Statistics { callbacks.state.withLock { $0.statistics } }

    /// Disconnects, stops the network thread and finishes ``messages``. Idempotent.
    public func close() {
        let wasRunning = lifecycle.withLock { state -> Bool in
            defer { state = .closed }
            return state == .running
        }
        if wasRunning { stopNetworkThread() }
        callbacks.continuation.finish()
    }

    private func stopNetworkThread() {
        _ = mosquitto_disconnect(handle.raw)
        _ = mosquitto_loop_stop(handle.raw, false)
    }

    // MARK: Messages

    /// Subscribes to `filter` (MQTT wildcards `+` and `#` allowed) and waits for the SUBACK. The subscription is
    /// renewed automatically after reconnections.
    public func subscribe(_ filter: String, qos: Int = 0) async throws {
        var mid: Int32 = 0
        let rc = mosquitto_subscribe(handle.raw, &mid, filter, Int32(qos))
        try check(rc, "subscribing to \(filter)")
        callbacks.remember(filter: filter, qos: Int32(qos))
        let callbacks = self.callbacks
        let timeout = configuration.subscribeTimeout
        let sent = mid
        try await withTimeout(timeout, { MQTTError(code: .timedOut, message: "no SUBACK for \(filter) within \(timeout)") }) {
            try await callbacks.waitForSubAck(mid: sent)
        }
    }

    /// Queues a message for the broker (QoS 0 messages are sent by the network thread without acknowledgement).
    public func publish(_ topic: String, payload: [UInt8], qos: Int = 0, retain: Bool = false) throws {
        let rc = payload.withUnsafeBytes {
            mosquitto_publish(handle.raw, nil, topic, Int32($0.count), $0.baseAddress, Int32(qos), retain)
        }
        try check(rc, "publishing to \(topic)")
    }

    /// Publishes UTF-8 text.
    public func publish(_ topic: String, text: String, qos: Int = 0, retain: Bool = false) throws {
        try publish(topic, payload: Array(text.utf8), qos: qos, retain: retain)
    }

    private func check(_ rc: Int32, _ what: String) throws {
        guard rc != 0 else { return }
        let code: MQTTError.Code =
            switch rc {
            case Int32(MOSQ_ERR_NO_CONN.rawValue): .notConnected
            case Int32(MOSQ_ERR_INVAL.rawValue), Int32(MOSQ_ERR_MALFORMED_UTF8.rawValue), Int32(MOSQ_ERR_PAYLOAD_SIZE.rawValue):
                .invalidConfiguration
            default: .library
            }
        throw MQTTError(code: code, message: "\(what) failed: \(MosquittoLibrary.errorText(rc))", returnCode: rc)
    }
}
