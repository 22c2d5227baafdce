import HearthCore
import MosquittoTestSupport
import Testing

@testable import HearthPanel

/// Credentials for a test broker, shaped like a SPAN registration's.
func testCredentials(_ broker: MosquittoBroker, password: String = MosquittoBroker.password) -> SpanCredentials {
    SpanCredentials(
        accessToken: "test-token", mqttUsername: MosquittoBroker.username, mqttPassword: password, brokerHost: broker.host,
        brokerPort: broker.port)
}

/// A connected plain client (the simulated panel's, or a test's raw publisher).
func connectedClient(_ broker: MosquittoBroker, id: String, will: MQTTClient.Will? = nil) async throws -> MQTTClient {
    let client = try MQTTClient(
        configuration: .init(
            host: broker.host, port: broker.port, clientID: id, username: MosquittoBroker.username, password: MosquittoBroker.password,
            tls: broker.caFile.map { MQTTClient.TLS(caFile: $0) }, will: will))
    try await client.connect()
    return client
}

/// A SpanPanel reading `serial` from `broker`, on a manual clock.
func makePanel(_ broker: MosquittoBroker, serial: String, clock: ManualClock = ManualClock()) -> SpanPanel<ManualClock> {
    SpanPanel(
        configuration: SpanPanelConfiguration(serial: serial, credentials: testCredentials(broker), caFile: broker.caFile), clock: clock)
}

/// Runs `panel` for the duration of `body`, after it has subscribed; then cancels it and waits for it to end.
func withRunning<C: Clock, T>(_ panel: SpanPanel<C>, _ body: () async throws -> T) async throws -> T where C.Duration == Duration {
    let task = Task { try await panel.run() }
    do {
        try await panel.waitUntilSubscribed()
        let result = try await body()
        task.cancel()
        _ = await task.result
        return result
    } catch {
        task.cancel()
        if case .failure(let runError) = await task.result, !(runError is CancellationError) { throw runError }
        throw error
    }
}

/// A simulated home at noon with a battery, and a publisher for it.
struct SimulatedDevice {
    let time = SimulatedTime(12 * 3600)
    let panel: SimulatedPanel
    let client: MQTTClient
    let publisher: SpanPanelPublisher

    init(_ broker: MosquittoBroker, serial: String, circuitPowerUnit: String = "kW", publishesCircuitWatts: Bool = false) async throws {
        let time = self.time
        panel = SimulatedPanel(configuration: .init(homeType: .gasWithEV, seed: 42, battery: (80, 13_500))) { time.now }
        client = try await connectedClient(broker, id: "sim-\(serial)", will: SpanPanelPublisher.will(serial: serial))
        publisher = SpanPanelPublisher(
            client: client, source: panel,
            configuration: .init(serial: serial, circuitPowerUnit: circuitPowerUnit, publishesCircuitWatts: publishesCircuitWatts))
    }
}
