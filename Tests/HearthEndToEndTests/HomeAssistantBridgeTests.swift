import Foundation
import HearthCore
import HearthNode
import HearthPanel
import Logging
import MosquittoTestSupport
import Testing

/// Issue 15: the home sees its node. On a real mosquitto broker, a client that follows Home Assistant's MQTT discovery
/// convention finds the node's entities and their state, and the home's controls change what the node does.
@Suite(.timeLimit(.minutes(1)))
struct HomeAssistantBridgeTests {
    /// Reads messages until `predicate` holds for the latest document on `topic`.
    static func document(
        on topic: String, in messages: inout AsyncStream<MQTTMessage>.Iterator, seen: inout [String: [String: Any]],
        where predicate: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        if let current = seen[topic], predicate(current) { return current }
        while let message = await messages.next() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any] else { continue }
            seen[message.topic] = object
            if message.topic == topic, predicate(object) { return object }
        }
        throw CancellationError()
    }

    @Test func aDiscoveryClientFindsTheNodeAndItsControlsChangeWhatTheNodeDoes() async throws {
        let broker = try await MosquittoBroker.start()
        defer { broker.stop() }
        func client(_ id: String) -> MQTTClient.Configuration {
            .init(
                host: broker.host, port: broker.port, clientID: id, username: MosquittoBroker.username, password: MosquittoBroker.password)
        }

        let node = PoweredNode.make(homeLoadWatts: 3_000, battery: NodeBattery.Configuration(kilowattHours: 15, kilowatts: 5))
        var logger = Logger(label: "hearth.test.home")
        logger.logLevel = .critical
        var configuration = HomeAssistantBridge.Configuration(mqtt: client("hearth-node"), nodeID: "home node/1")
        configuration.creditPerKilowattHour = 0.25
        configuration.currency = "EUR"
        let bridge = HomeAssistantBridge(configuration: configuration, controller: node.controller, logger: logger)
        #expect(bridge.objectID == "home_node_1", "topics carry no spaces or slashes from a node id")

        // Home Assistant's side: discovery configs and the state topic.
        let home = try MQTTClient(configuration: client("home-assistant"))
        try await home.connect()
        defer { home.close() }
        try await home.subscribe("homeassistant/#")
        try await home.subscribe("hearth/#")

        let power = Task { await node.controller.run() }
        defer { power.cancel() }
        let running = Task { try await bridge.run() }
        defer { running.cancel() }

        var messages = home.messages.makeAsyncIterator()
        var seen: [String: [String: Any]] = [:]
        let prefix = "homeassistant"
        for (component, object) in [
            ("sensor", "draw"), ("sensor", "energy_today"), ("sensor", "energy_month"), ("sensor", "state"), ("sensor", "battery"),
            ("switch", "pause"), ("number", "max_draw"), ("text", "quiet_hours"), ("binary_sensor", "quiet"),
            ("sensor", "credit_month"),
        ] {
            let config = try await Self.document(
                on: "\(prefix)/\(component)/hearth_home_node_1/\(object)/config", in: &messages, seen: &seen
            ) { _ in true }
            #expect(config["unique_id"] as? String == "hearth_home_node_1_\(object)")
            #expect(config["state_topic"] as? String == "hearth/home_node_1/state")
            #expect((config["device"] as? [String: Any])?["identifiers"] as? [String] == ["hearth_home_node_1"])
        }
        let draw = try await Self.document(on: "homeassistant/sensor/hearth_home_node_1/draw/config", in: &messages, seen: &seen) { _ in
            true
        }
        #expect(draw["device_class"] as? String == "power" && draw["unit_of_measurement"] as? String == "W")
        let credit = try await Self.document(
            on: "homeassistant/sensor/hearth_home_node_1/credit_month/config", in: &messages, seen: &seen
        ) { _ in true }
        #expect(credit["device_class"] as? String == "monetary" && credit["unit_of_measurement"] as? String == "EUR")

        // The node serves at full power once its governor's hold has passed (none here), on a 3 kW home.
        let serving = try await Self.document(on: "hearth/home_node_1/state", in: &messages, seen: &seen) {
            $0["state"] as? String == "serving"
        }
        #expect(serving["paused"] as? String == "OFF")
        #expect((serving["battery_percent"] as? Double ?? 0) > 90)
        #expect(serving["draw_w"] is Double || serving["draw_w"] is Int)
        #expect(serving["credit_month"] is Double || serving["credit_month"] is Int)
        #expect(serving["quiet"] as? String == "OFF" && serving["quiet_hours"] as? String == "")

        // The host pauses the node: it powers down, and says so.
        try home.publish("hearth/home_node_1/pause/set", text: "ON", qos: 1)
        let paused = try await Self.document(on: "hearth/home_node_1/state", in: &messages, seen: &seen) {
            $0["state"] as? String == "paused"
        }
        #expect(paused["paused"] as? String == "ON")
        #expect(node.controller.status.mode == .off)

        // Nonsense is ignored; a maximum draw caps the node once it is unpaused.
        try home.publish("hearth/home_node_1/max_draw/set", text: "-5", qos: 1)
        try home.publish("hearth/home_node_1/pause/set", text: "maybe", qos: 1)
        try home.publish("hearth/home_node_1/max_draw/set", text: "5000", qos: 1)
        try home.publish("hearth/home_node_1/pause/set", text: "OFF", qos: 1)
        let capped = try await Self.document(on: "hearth/home_node_1/state", in: &messages, seen: &seen) {
            $0["state"] as? String == "capped"
        }
        #expect(capped["max_draw_w"] as? Double == 5_000 || capped["max_draw_w"] as? Int == 5_000)
        // Within the host's 5 kW, the 1 kW host included (rising from off, the governor keeps its 480 W band).
        #expect(node.controller.status.capWatts + 1_000 <= 5_000 && node.controller.status.capWatts >= 3_500)
        #expect(node.controller.status.mode == .capped)
        #expect(node.controller.hostControls == PowerController.HostControls(paused: false, maxDrawWatts: 5_000))

        // Quiet hours that hold now (by the node's clock): the node keeps to its floor, GPUs at their minimum, and serves.
        let clock = Calendar.current.dateComponents([.hour, .minute], from: Date())
        let minute = (clock.hour ?? 0) * 60 + (clock.minute ?? 0)
        let window = try #require(QuietHours(startMinute: (minute + 1_439) % 1_440, endMinute: (minute + 120) % 1_440))
        try home.publish("hearth/home_node_1/quiet_hours/set", text: "25:00-07:00", qos: 1)
        try home.publish("hearth/home_node_1/quiet_hours/set", text: window.description, qos: 1)
        let quiet = try await Self.document(on: "hearth/home_node_1/state", in: &messages, seen: &seen) {
            $0["state"] as? String == "quiet"
        }
        #expect(quiet["quiet_hours"] as? String == window.description && quiet["quiet"] as? String == "ON")
        #expect(node.controller.status.capWatts == 2_000, "the GPUs at their minimum")
        #expect(node.controller.hostControls.quietHours == window)

        // Cleared: back to the host's 5 kW.
        try home.publish("hearth/home_node_1/quiet_hours/set", text: "OFF", qos: 1)
        _ = try await Self.document(on: "hearth/home_node_1/state", in: &messages, seen: &seen) {
            $0["state"] as? String == "capped" && $0["quiet"] as? String == "OFF"
        }
        #expect(node.controller.status.capWatts >= 3_500)
    }
}
