import Synchronization

/// A SPAN panel read over its local v2 interface: MQTT (Homie v5) on the panel's own broker.
///
/// ``run()`` connects, subscribes to `ebus/5/<serial>/#` and feeds every message to a ``SpanPanelState`` until the
/// task is cancelled (wrap it in a `Service` in the agent). ``snapshot()`` is cheap and never blocks on the
/// network: it returns the latest figures with `ageSeconds` measured on the injected clock since the last
/// plausible live mains `active-power`.
public final class SpanPanel<C: Clock>: HomePanel where C.Duration == Duration {
    public let configuration: SpanPanelConfiguration
    private let clock: C
    private let origin: C.Instant
    private let state: Mutex<Shell>
    private let changes = ChangeSignal()

    private struct Shell {
        var panel: SpanPanelState
        var isSubscribed = false
        var mqtt: MQTTClient.Statistics?
        /// Why the last attempt to connect and subscribe failed (nil once subscribed).
        var connectionError: MQTTError?
        var connectionFailures = 0
    }

    /// A panel whose ages are measured on `clock` (tests pass a manual clock).
    public init(configuration: SpanPanelConfiguration, clock: C) {
        self.configuration = configuration
        self.clock = clock
        self.origin = clock.now
        self.state = Mutex(Shell(panel: SpanPanelState(serial: configuration.serial, options: configuration.parsing)))
    }

    /// Seconds on the injected clock since this panel was created.
    private func seconds() -> Double {
        let d = origin.duration(to: clock.now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    // MARK: HomePanel

    public func snapshot() async throws -> PanelSnapshot {
        let now = seconds()
        return state.withLock { shell in
            var snapshot = shell.panel.snapshot(at: now)
            if snapshot.unavailableBecause != nil, !shell.isSubscribed {
                snapshot.unavailableBecause =
                    shell.connectionError.map { "cannot reach the panel's broker: \($0)" } ?? "not connected to the panel's broker yet"
            }
            return snapshot
        }
    }

    /// Moves with every message from the panel (and every connection change).
    public var changeGeneration: UInt64? { changes.generation }

    public func waitForChange(after seen: UInt64) async { await changes.wait(after: seen) }

    /// Why the last attempt to reach the panel's broker failed (nil while connected, or before the first attempt).
    public func connectionError() -> MQTTError? {
        state.withLock { $0.connectionError }
    }

    /// What has been rejected so far.
    public func diagnostics() -> PanelDiagnostics {
        state.withLock { $0.panel.diagnostics }
    }

    /// The MQTT client's counters as of the last message (nil before ``run()`` connects).
    public func mqttStatistics() -> MQTTClient.Statistics? {
        state.withLock { $0.mqtt }
    }

    /// The pure state, for inspection.
    public func panelState() -> SpanPanelState {
        state.withLock { $0.panel }
    }

    // MARK: Running

    /// Connects, subscribes and reads until cancelled. A broker that cannot be reached or refuses the client (down,
    /// a wrong password, a TLS CA mismatch that libmosquitto reports as "no CONNACK") is tried again after
    /// ``SpanPanelConfiguration/reconnectDelay`` (doubling, with jitter): meanwhile the panel has no figures, so the
    /// node stays drained, and ``SpanPanelConfiguration/onConnectionFailure`` says why. Later connection losses are
    /// retried by libmosquitto; meanwhile the mains age grows.
    public func run() async throws {
        var delay = configuration.reconnectDelay.lowerBound
        while !Task.isCancelled {
            do {
                try await readUntilClosed()
                return
            } catch let error as MQTTError {
                state.withLock {
                    $0.connectionError = error
                    $0.connectionFailures += 1
                }
                changes.bump()
                configuration.onConnectionFailure?(error)
            }
            let jittered = delay * Double.random(in: 0.5...1.0)
            do { try await Task.sleep(for: jittered) } catch { return }
            delay = min(delay * 2, configuration.reconnectDelay.upperBound)
        }
    }

    /// One connection: connect, subscribe, read until the client closes or the task is cancelled.
    private func readUntilClosed() async throws {
        let client = try MQTTClient(configuration: configuration.mqtt)
        defer {
            client.close()
            state.withLock { $0.isSubscribed = false }
            changes.bump()
        }
        try await client.connect()
        try await client.subscribe(SpanTopic.wildcard(serial: configuration.serial))
        state.withLock {
            $0.isSubscribed = true
            $0.connectionError = nil
            $0.mqtt = client.statistics
        }
        changes.bump()
        for await message in client.messages {
            let now = seconds()
            let statistics = client.statistics
            let rejections = state.withLock { shell -> [PanelRejection] in
                shell.mqtt = statistics
                return shell.panel.handle(
                    topic: message.topic, payload: message.payload, retained: message.retained,
                    payloadTooLarge: message.payloadTooLarge, at: now)
            }
            changes.bump()
            if let report = configuration.onRejection {
                for rejection in rejections { report(rejection) }
            }
        }
    }

    // MARK: Waiting (for the agent's start-up and for tests)

    /// Waits until ``run()`` has failed to connect `count` times in all, and returns the last failure.
    public func waitForConnectionFailures(_ count: Int = 1, timeout: Duration = .seconds(30)) async throws -> MQTTError {
        try await waitFor(timeout: timeout, "\(count) failed connections") { shell in
            shell.connectionFailures >= count ? shell.connectionError : nil
        }
    }

    /// Waits until ``run()`` has subscribed (so a publisher's next message will be seen).
    public func waitUntilSubscribed(timeout: Duration = .seconds(10)) async throws {
        _ = try await waitFor(timeout: timeout, "subscribed") { shell in shell.isSubscribed ? true : nil }
    }

    /// Waits until a snapshot satisfies `predicate` and returns it (evaluated after each message).
    public func waitForSnapshot(
        timeout: Duration = .seconds(10), where predicate: @escaping @Sendable (PanelSnapshot) -> Bool
    ) async throws -> PanelSnapshot {
        try await waitFor(timeout: timeout, "a matching snapshot") { [self] shell in
            let snapshot = shell.panel.snapshot(at: seconds())
            return predicate(snapshot) ? snapshot : nil
        }
    }

    /// Waits until the diagnostics satisfy `predicate` (e.g. a rejection was counted) and returns them.
    public func waitForDiagnostics(
        timeout: Duration = .seconds(10), where predicate: @escaping @Sendable (PanelDiagnostics) -> Bool
    ) async throws -> PanelDiagnostics {
        try await waitFor(timeout: timeout, "matching diagnostics") { shell in
            predicate(shell.panel.diagnostics) ? shell.panel.diagnostics : nil
        }
    }

    private func waitFor<T: Sendable>(
        timeout: Duration, _ what: String, _ check: @escaping @Sendable (Shell) -> T?
    ) async throws -> T {
        try await withTimeout(timeout, { PanelWaitTimeout(what: what, timeout: timeout) }) { [self] in
            while true {
                let seen = changes.generation
                if let result = state.withLock({ check($0) }) { return result }
                try Task.checkCancellation()
                await changes.wait(after: seen)
            }
        }
    }
}

extension SpanPanel where C == ContinuousClock {
    /// A panel whose ages are measured on the monotonic `ContinuousClock`.
    public convenience init(configuration: SpanPanelConfiguration) {
        self.init(configuration: configuration, clock: ContinuousClock())
    }
}

/// A `waitFor…` call on a panel gave up.
public struct PanelWaitTimeout: Error, Sendable, CustomStringConvertible {
    public var what: String
    public var timeout: Duration

    public var description: String { "timed out after \(timeout) waiting for \(what)" }
}
