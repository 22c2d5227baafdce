import HearthCore
import MosquittoTestSupport
import Testing

@testable import HearthPanel

/// The panel's broker speaks MQTT over TLS with its own CA; so does this one.
@Suite(.mosquittoBroker(.init(tls: true)), .timeLimit(.minutes(1)))
struct SpanPanelTLSTests {
    var broker: MosquittoBroker { MosquittoBroker.current! }

    @Test func readsAPanelOverTLS() async throws {
        #expect(broker.caFile != nil)
        let serial = "sim-tls"
        let device = try await SimulatedDevice(broker, serial: serial)
        defer { device.client.close() }
        let panel = makePanel(broker, serial: serial)
        let snapshot = try await withRunning(panel) {
            try await device.publisher.publish()
            return try await panel.waitForSnapshot { $0.mainsActivePowerWatts != nil }
        }
        #expect(snapshot.breakerRatingAmps == 200)
        #expect(isKnownToGovernor(snapshot))
    }

    @Test func aClientWithoutTheCAFileCannotConfigureTLS() {
        #expect(throws: MQTTError.self) {
            _ = try MQTTClient(
                configuration: .init(host: "127.0.0.1", port: broker.port, clientID: "x", tls: .init(caFile: "/nonexistent/ca.pem")))
        }
    }
}
