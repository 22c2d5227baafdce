/// The `$description` a simulated SPAN panel publishes: node types, datatypes, units and enum formats as in
/// the panel's schema (span-panel-api `tests/fixtures/v2/homie_schema.json`, firmware spanos2/r202603/05).
enum SpanDeviceDescription {
    typealias Property = HomieDescription.Property
    typealias Node = HomieDescription.Node

    static func make(name: String, version: Int, circuits: [String], circuitPowerUnit: String, battery: Bool) -> HomieDescription {
        typealias ID = SpanNodeRole.NodeID
        typealias T = SpanNodeRole.NodeType
        let float = { (name: String, unit: String) in Property(name: name, datatype: "float", unit: unit) }
        let lugs: [String: Property] = [
            "direction": Property(name: "Lugs feed direction", datatype: "enum", format: "UPSTREAM,DOWNSTREAM"),
            "active-power": float("Active power", "W"),
            "l1-current": float("L1 current", "A"),
            "l2-current": float("L2 current", "A"),
        ]
        var nodes: [String: Node] = [
            ID.core: Node(
                name: "core", type: T.core,
                properties: [
                    "breaker-rating": Property(name: "Main breaker rating", datatype: "integer", unit: "A"),
                    "l1-voltage": float("L1 voltage", "V"),
                    "l2-voltage": float("L2 voltage", "V"),
                    "door": Property(name: "Door state", datatype: "enum", format: "UNKNOWN,OPEN,CLOSED"),
                ]),
            ID.upstreamLugs: Node(name: "lugs", type: T.lugs, properties: lugs),
            ID.downstreamLugs: Node(name: "lugs", type: T.lugs, properties: lugs),
            ID.powerControl: Node(
                name: "pcs", type: T.powerControl,
                properties: [
                    "requested-import-limit": float("Requested limit maximum import power", "A"),
                    "requested-import-limit-enablement": Property(
                        name: "Enablement status of the requested-import-limit", datatype: "enum",
                        format: "UNSPECIFIED,UNCONFIGURED,DISABLED,ENABLED"),
                ]),
        ]
        if battery {
            nodes[ID.battery] = Node(
                name: "bess", type: T.battery, properties: ["soc": float("State of charge", "%"), "soe": float("State of energy", "kWh")])
        }
        for circuit in circuits {
            nodes[circuit] = Node(
                name: "circuit", type: T.circuit,
                properties: [
                    "name": Property(name: "Circuit name", datatype: "string"),
                    "active-power": float("Measured active power", circuitPowerUnit),
                    "shed-priority": Property(
                        name: "Configured priority of circuit shedding when off-grid", datatype: "enum",
                        format: "UNKNOWN,OFF_GRID,SOC_THRESHOLD,NEVER", settable: true),
                    "relay": Property(name: "Circuit relay state", datatype: "enum", format: "UNKNOWN,OPEN,CLOSED", settable: true),
                ])
        }
        return HomieDescription(homie: "5.0", version: version, name: name, type: T.device, nodes: nodes)
    }
}
