import Synchronization

/// A simulated SPAN panel device: publishes any ``HomePanel``'s figures as the Homie v5 topics a SPAN panel
/// publishes (``SpanTopic``), retained, on a broker. Tests and `hearth node --panel span-sim` read them back with
/// ``SpanPanel``.
///
/// The first ``publish()`` announces the device as Homie v5 asks: `$state` = `init`, `$description`, the values,
/// then `$state` = `ready`; later calls publish the values (announcing again when the circuits change or the
/// client has reconnected).
/// Create the client with ``will(serial:)`` so the broker marks the device `lost` if the publisher dies.
///
/// Node ids and types follow the SPAN simulator and panel schema (span-panel-api: `core`, `upstream-lugs`,
/// `downstream-lugs` typed `energy.ebus.device.lugs` with a `direction`, `bess-0`, `pcs-0`, circuits as 32-hex ids).
public final class SpanPanelPublisher: Sendable {
    public struct Configuration: Sendable {
        public var serial: String
        /// The unit circuit `active-power` is declared and published in. The panel's schema declares `kW`.
        public var circuitPowerUnit: String
        /// Publish circuit `active-power` in watts while declaring ``circuitPowerUnit``: what SPAN's firmware does
        /// (its topic reference; the Home Assistant integration reads circuit power as watts whatever the declaration).
        public var publishesCircuitWatts: Bool
        public var deviceName: String

        public init(
            serial: String, circuitPowerUnit: String = "kW", publishesCircuitWatts: Bool = false,
            deviceName: String = "Hearth simulated SPAN panel"
        ) {
            self.serial = serial
            self.circuitPowerUnit = circuitPowerUnit == "W" ? "W" : "kW"
            self.publishesCircuitWatts = publishesCircuitWatts
            self.deviceName = deviceName
        }
    }

    public let configuration: Configuration
    private let client: MQTTClient
    private let source: any HomePanel
    private let state = Mutex(Announced())

    private struct Announced {
        var circuitIDs: [String]?
        var version = 0
        var hasBattery = false
        var reconnects = 0
    }

    public init(client: MQTTClient, source: any HomePanel, configuration: Configuration) {
        self.client = client
        self.source = source
        self.configuration = configuration
    }

    /// The last will a publisher's client should carry: retained `$state` = `lost`.
    public static func will(serial: String) -> MQTTClient.Will {
        MQTTClient.Will(topic: SpanTopic.prefix(serial: serial) + "/$state", payload: Array("lost".utf8), qos: 1, retain: true)
    }

    /// Publishes `$state`.
    public func publishState(_ deviceState: HomieDeviceState) throws {
        try client.publish(SpanTopic.prefix(serial: configuration.serial) + "/$state", text: deviceState.rawValue, qos: 1, retain: true)
    }

    /// Reads the source once and publishes its figures.
    public func publish() async throws {
        let snapshot = try await source.snapshot()
        let circuitIDs = snapshot.circuits.map(\.id)
        let hasBattery = snapshot.batteryStateOfChargePercent != nil
        let reconnects = client.statistics.reconnects
        let version = state.withLock { s -> Int? in
            // Announce again when the device changes, or after a reconnection (the broker may have lost it all).
            guard s.circuitIDs != circuitIDs || s.hasBattery != hasBattery || s.reconnects != reconnects else { return nil }
            s.circuitIDs = circuitIDs
            s.hasBattery = hasBattery
            s.reconnects = reconnects
            s.version += 1
            return s.version
        }
        let prefix = SpanTopic.prefix(serial: configuration.serial)
        if let version {
            try publishState(.initializing)
            let description = SpanDeviceDescription.make(
                name: configuration.deviceName, version: version, circuits: snapshot.circuits.map { Self.nodeID(forCircuit: $0.id) },
                circuitPowerUnit: configuration.circuitPowerUnit, battery: hasBattery)
            try client.publish(prefix + "/$description", text: description.json(), qos: 1, retain: true)
        }
        for (node, property, value) in values(snapshot) {
            try client.publish("\(prefix)/\(node)/\(property)", text: value, retain: true)
        }
        if version != nil { try publishState(.ready) }
    }

    /// Publishes every `period` on `clock` until cancelled.
    public func run<C: Clock>(every period: Duration = .seconds(1), clock: C) async throws where C.Duration == Duration {
        while !Task.isCancelled {
            try await publish()
            try await clock.sleep(for: period)
        }
    }

    /// Publishes every `period` of real time until cancelled.
    public func run(every period: Duration = .seconds(1)) async throws {
        try await run(every: period, clock: ContinuousClock())
    }

    /// A stable 32-hex-digit node id for a circuit id (SPAN circuit nodes are dashless UUIDs).
    public static func nodeID(forCircuit id: String) -> String {
        func fnv(_ seed: UInt64) -> UInt64 {
            var hash = seed
            for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
            return hash
        }
        func hex(_ v: UInt64) -> String {
            let digits = String(v, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return hex(fnv(0xCBF2_9CE4_8422_2325)) + hex(fnv(0x8422_2325_CBF2_9CE4))
    }

    private func values(_ s: PanelSnapshot) -> [(String, String, String)] {
        typealias ID = SpanNodeRole.NodeID
        var out: [(String, String, String)] = []
        func put(_ node: String, _ property: String, _ value: Double?, decimals: Int = 3) {
            if let value { out.append((node, property, HomieNumber.format(value, decimals: decimals))) }
        }
        out.append((ID.upstreamLugs, "direction", "UPSTREAM"))
        out.append((ID.downstreamLugs, "direction", "DOWNSTREAM"))
        put(ID.downstreamLugs, "active-power", 0)
        put(ID.core, "breaker-rating", s.breakerRatingAmps.map { $0.rounded() }, decimals: 0)
        put(ID.core, "l1-voltage", s.l1Voltage)
        put(ID.core, "l2-voltage", s.l1Voltage)
        out.append((ID.core, "door", s.doorOpen.map { $0 ? "OPEN" : "CLOSED" } ?? "UNKNOWN"))
        let kilowatts = configuration.circuitPowerUnit == "kW" && !configuration.publishesCircuitWatts
        for circuit in s.circuits {
            let node = Self.nodeID(forCircuit: circuit.id)
            out.append((node, "name", circuit.name ?? circuit.id))
            put(node, "active-power", circuit.activePowerWatts.map { kilowatts ? $0 / 1_000 : $0 }, decimals: kilowatts ? 4 : 1)
            out.append((node, "shed-priority", circuit.shedPriority ?? "UNKNOWN"))
            out.append((node, "relay", "CLOSED"))
        }
        put(ID.battery, "soc", s.batteryStateOfChargePercent)
        put(ID.battery, "soe", s.batteryStateOfEnergyWattHours.map { $0 / 1_000 })
        let legToLeg = (s.l1Voltage ?? 120) * 2
        put(ID.powerControl, "requested-import-limit", (s.requestedImportLimitWatts ?? 0) / legToLeg)
        out.append((ID.powerControl, "requested-import-limit-enablement", s.requestedImportLimitWatts == nil ? "DISABLED" : "ENABLED"))
        // Mains last: a reader that sees the new mains figure has the rest of this frame already.
        put(ID.upstreamLugs, "l1-current", s.l1CurrentAmps)
        put(ID.upstreamLugs, "l2-current", s.l2CurrentAmps)
        put(ID.upstreamLugs, "active-power", s.mainsActivePowerWatts, decimals: 1)
        return out
    }
}
