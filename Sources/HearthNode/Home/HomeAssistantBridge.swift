import Foundation
import HearthCore
public import HearthPanel
public import Logging

/// The node on the home's own MQTT broker, in Home Assistant's MQTT discovery convention (issue 15): the home sees
/// its node's draw, its battery, its energy today and this month and its state, and may pause it or cap its draw.
///
/// Topics (`<node>` is the node id with anything but letters, digits, `-` and `_` replaced by `_`):
/// - `<discovery>/<component>/hearth_<node>/<object>/config` (retained): one entity each, all on one device;
/// - `hearth/<node>/availability`: `online`, and `offline` as the client's will;
/// - `hearth/<node>/state`: one JSON object with every figure, every ``Configuration/period`` and after a control;
/// - `hearth/<node>/pause/set` (`ON`/`OFF`), `hearth/<node>/max_draw/set` (watts; the node's full draw or more
///   lifts the limit) and `hearth/<node>/quiet_hours/set` (`HH:MM-HH:MM` local time, or `OFF` / empty for none: the
///   node keeps to its floor then): the controls, honoured at once.
/// - With a credit rate configured, the host's credit this month: the node's energy this month at that rate.
///
/// Everything arriving on the command topics is the resident's to send, but checked all the same: anything but the
/// expected values is logged and ignored.
public final class HomeAssistantBridge: Sendable {
    public struct Configuration: Sendable {
        public var mqtt: MQTTClient.Configuration
        public var nodeID: String
        public var discoveryPrefix = "homeassistant"
        public var period: Duration = .seconds(1)
        /// What the host is credited per kWh the node draws (the operator's tariff), and its currency (ISO 4217);
        /// nil: no credit sensor.
        public var creditPerKilowattHour: Double?
        public var currency = "USD"

        public init(mqtt: MQTTClient.Configuration, nodeID: String) {
            self.mqtt = mqtt
            self.nodeID = nodeID
        }
    }

    public let configuration: Configuration
    private let controller: PowerController
    private let logger: Logger
    /// The id as it appears in topics and unique ids.
    public let objectID: String

    public init(configuration: Configuration, controller: PowerController, logger: Logger) {
        self.configuration = configuration
        self.controller = controller
        self.logger = logger
        objectID = String(
            configuration.nodeID.unicodeScalars.map { scalar -> Character in
                scalar.properties.isAlphabetic && scalar.isASCII || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_"
                    ? Character(scalar) : "_"
            })
    }

    var base: String { "hearth/\(objectID)" }
    var availabilityTopic: String { base + "/availability" }
    var stateTopic: String { base + "/state" }
    var pauseCommandTopic: String { base + "/pause/set" }
    var maxDrawCommandTopic: String { base + "/max_draw/set" }
    var quietHoursCommandTopic: String { base + "/quiet_hours/set" }

    /// Connects (retrying with backoff while the broker cannot be reached), announces the entities and publishes the
    /// node's state until cancelled.
    public func run() async throws {
        var mqtt = configuration.mqtt
        mqtt.will = MQTTClient.Will(topic: availabilityTopic, payload: Array("offline".utf8), qos: 1, retain: true)
        var delay = Duration.seconds(1)
        while !Task.isCancelled {
            do {
                try await serve(MQTTClient(configuration: mqtt))
                return
            } catch {
                logger.warning("cannot reach the home's MQTT broker; trying again", metadata: ["error": "\(error)"])
            }
            do { try await Task.sleep(for: delay) } catch { return }
            delay = min(delay * 2, .seconds(30))
        }
    }

    private func serve(_ client: MQTTClient) async throws {
        defer { client.close() }
        try await client.connect()
        try await client.subscribe(base + "/+/set", qos: 1)
        try announce(client)
        try publishState(client)
        await withDiscardingTaskGroup { group in
            group.addTask {
                // A broker that restarted without persistence lost the retained entities: announce them again.
                var reconnects = client.statistics.reconnects
                while !Task.isCancelled {
                    do { try await Task.sleep(for: self.configuration.period) } catch { return }
                    if client.statistics.reconnects != reconnects {
                        reconnects = client.statistics.reconnects
                        try? self.announce(client)
                    }
                    try? self.publishState(client)
                }
            }
            for await message in client.messages {
                await handle(message)
                try? publishState(client)
            }
            group.cancelAll()
        }
    }

    /// The entities (retained) and this node's availability.
    private func announce(_ client: MQTTClient) throws {
        for (topic, document) in discovery() { try client.publish(topic, text: document, qos: 1, retain: true) }
        try client.publish(availabilityTopic, text: "online", qos: 1, retain: true)
    }

    /// Applies one control message; anything else is logged and ignored.
    func handle(_ message: MQTTMessage) async {
        let text = String(decoding: message.payload.prefix(64), as: UTF8.self).trimmingCharacters(in: .whitespaces)
        var controls = controller.hostControls
        switch message.topic {
        case pauseCommandTopic:
            guard text == "ON" || text == "OFF" else { return refuse(message.topic, text) }
            controls.paused = text == "ON"
        case maxDrawCommandTopic:
            guard let watts = Double(text), watts.isFinite, watts >= 0 else { return refuse(message.topic, text) }
            controls.maxDrawWatts = watts >= controller.configuration.governor.fullWatts ? nil : watts
        case quietHoursCommandTopic:
            if text.isEmpty || text == "OFF" {
                controls.quietHours = nil
            } else {
                guard let window = QuietHours(text) else { return refuse(message.topic, text) }
                controls.quietHours = window
            }
        default:
            return
        }
        guard controls != controller.hostControls else { return }
        await controller.setHostControls(controls)
    }

    private func refuse(_ topic: String, _ text: String) {
        logger.warning("ignored a home control message", metadata: ["topic": "\(topic)", "payload": "\(text.prefix(32))"])
    }

    /// The node's state as one JSON object.
    func stateDocument() -> String {
        let report = controller.report()
        let status = controller.status
        let host = controller.hostControls
        let energy = controller.homeEnergy
        let mode: String =
            switch status.mode {
            case .normal: "serving"
            case .capped: "capped"
            case .draining: "draining"
            case .off: "off"
            }
        let quiet = controller.isQuiet
        let state = host.paused ? "paused" : quiet && (status.mode == .capped || status.mode == .normal) ? "quiet" : mode
        var fields: [String: Any] = [
            "quiet_hours": host.quietHours?.description ?? "", "quiet": quiet ? "ON" : "OFF",
            "state": state, "draw_w": (report.drawWatts * 10).rounded() / 10,
            "energy_today_kwh": (energy.todayWattHours / 10).rounded() / 100,
            "energy_month_kwh": (energy.monthWattHours / 10).rounded() / 100,
            "paused": host.paused ? "ON" : "OFF",
            "max_draw_w": host.maxDrawWatts ?? controller.configuration.governor.fullWatts,
        ]
        if let soc = report.batteryStateOfCharge { fields["battery_percent"] = (soc * 1_000).rounded() / 10 }
        if let rate = configuration.creditPerKilowattHour {
            fields["credit_month"] = (energy.monthWattHours / 1_000 * rate * 100).rounded() / 100
        }
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    private func publishState(_ client: MQTTClient) throws {
        try client.publish(stateTopic, text: stateDocument(), retain: true)
    }

    /// Every entity's discovery topic and document.
    func discovery() -> [(topic: String, document: String)] {
        let full = controller.configuration.governor.fullWatts
        let device: [String: Any] = [
            "identifiers": ["hearth_\(objectID)"], "name": "Hearth node \(configuration.nodeID)", "manufacturer": "Hearth",
            "model": "home inference node",
        ]
        func entity(_ component: String, _ object: String, _ name: String, _ extra: [String: Any]) -> (String, String) {
            var document: [String: Any] = [
                "name": name, "unique_id": "hearth_\(objectID)_\(object)", "object_id": "hearth_\(objectID)_\(object)",
                "device": device, "availability_topic": availabilityTopic, "state_topic": stateTopic,
            ]
            document.merge(extra) { _, new in new }
            let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data()
            return (
                "\(configuration.discoveryPrefix)/\(component)/hearth_\(objectID)/\(object)/config", String(decoding: data, as: UTF8.self)
            )
        }
        var entities = [
            entity(
                "sensor", "draw", "Draw",
                [
                    "device_class": "power", "unit_of_measurement": "W", "state_class": "measurement",
                    "value_template": "{{ value_json.draw_w }}",
                ]),
            entity(
                "sensor", "energy_today", "Energy today",
                [
                    "device_class": "energy", "unit_of_measurement": "kWh", "state_class": "total_increasing",
                    "value_template": "{{ value_json.energy_today_kwh }}",
                ]),
            entity(
                "sensor", "energy_month", "Energy this month",
                [
                    "device_class": "energy", "unit_of_measurement": "kWh", "state_class": "total_increasing",
                    "value_template": "{{ value_json.energy_month_kwh }}",
                ]),
            entity(
                "sensor", "state", "State",
                [
                    "device_class": "enum", "options": ["serving", "capped", "quiet", "draining", "off", "paused"],
                    "value_template": "{{ value_json.state }}",
                ]),
            entity(
                "switch", "pause", "Pause",
                [
                    "command_topic": pauseCommandTopic, "payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF",
                    "value_template": "{{ value_json.paused }}",
                ]),
            entity(
                "number", "max_draw", "Maximum draw",
                [
                    "command_topic": maxDrawCommandTopic, "min": 0, "max": full, "step": 100, "unit_of_measurement": "W",
                    "device_class": "power", "mode": "box", "value_template": "{{ value_json.max_draw_w }}",
                ]),
            entity(
                "text", "quiet_hours", "Quiet hours",
                [
                    "command_topic": quietHoursCommandTopic, "min": 0, "max": 11,
                    "pattern": "^$|^OFF$|^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$",
                    "value_template": "{{ value_json.quiet_hours }}",
                ]),
            entity(
                "binary_sensor", "quiet", "Quiet now",
                ["payload_on": "ON", "payload_off": "OFF", "value_template": "{{ value_json.quiet }}"]),
        ]
        if let rate = configuration.creditPerKilowattHour {
            entities.append(
                entity(
                    "sensor", "credit_month", "Credit this month",
                    [
                        "device_class": "monetary", "unit_of_measurement": configuration.currency, "state_class": "total",
                        "value_template": "{{ value_json.credit_month }}",
                        "json_attributes_template": "{\"rate_per_kwh\": \(rate)}", "json_attributes_topic": stateTopic,
                    ]))
        }
        if controller.configuration.governor.battery != nil {
            entities.append(
                entity(
                    "sensor", "battery", "Battery",
                    [
                        "device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement",
                        "value_template": "{{ value_json.battery_percent }}",
                    ]))
        }
        return entities.map { (topic: $0.0, document: $0.1) }
    }
}
