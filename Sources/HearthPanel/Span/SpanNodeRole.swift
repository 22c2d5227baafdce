/// What a node of a SPAN panel's Homie device is, as far as Hearth cares.
///
/// Identified by the node's `type` in `$description`, as span-panel-api's `HomieDeviceConsumer` does
/// (`src/span_panel_api/mqtt/const.py`: `TYPE_CORE`, `TYPE_LUGS`, `TYPE_LUGS_UPSTREAM`, `TYPE_CIRCUIT`, `TYPE_BESS`,
/// `TYPE_PCS`). Generic `energy.ebus.device.lugs` nodes carry a `direction` property (`UPSTREAM`/`DOWNSTREAM`).
/// Without a type (no `$description` yet, or a node it does not type) the node ids decide: those SPAN documents
/// (`core`, `lugs-upstream`, `lugs-downstream`, `bess`, `pcs`), those of span-panel-api's simulator and Hearth's
/// own tests (`upstream-lugs`, `downstream-lugs`, `bess-0`, `pcs-0`); circuits are 32-hex-digit UUIDs.
public enum SpanNodeRole: Sendable, Hashable {
    case core
    case upstreamLugs
    case downstreamLugs
    /// Lugs whose direction is not known yet.
    case lugs
    case circuit
    case battery
    case powerControl
    /// A node Hearth does not read (PV, EVSE, power flows, future types).
    case other

    /// Homie node `type` strings SPAN publishes.
    public enum NodeType {
        public static let core = "energy.ebus.device.distribution-enclosure.core"
        public static let lugs = "energy.ebus.device.lugs"
        public static let upstreamLugs = "energy.ebus.device.lugs.upstream"
        public static let downstreamLugs = "energy.ebus.device.lugs.downstream"
        public static let circuit = "energy.ebus.device.circuit"
        public static let battery = "energy.ebus.device.bess"
        public static let powerControl = "energy.ebus.device.pcs"
        /// The device's own `type` in `$description`.
        public static let device = "energy.ebus.device.distribution-enclosure"
    }

    /// Well-known node ids, used when no type is available.
    public enum NodeID {
        public static let core = "core"
        public static let upstreamLugs = "upstream-lugs"
        public static let downstreamLugs = "downstream-lugs"
        public static let battery = "bess-0"
        public static let powerControl = "pcs-0"
        /// The ids in SPAN's own topic reference.
        public static let documentedUpstreamLugs = "lugs-upstream"
        public static let documentedDownstreamLugs = "lugs-downstream"
        public static let documentedBattery = "bess"
        public static let documentedPowerControl = "pcs"
    }

    /// The role for a described node `type`; `direction` is the lugs node's `direction` value, if known.
    static func forType(_ type: String, direction: String?) -> SpanNodeRole {
        switch type {
        case NodeType.core: .core
        case NodeType.upstreamLugs: .upstreamLugs
        case NodeType.downstreamLugs: .downstreamLugs
        case NodeType.lugs:
            switch direction {
            case "UPSTREAM": .upstreamLugs
            case "DOWNSTREAM": .downstreamLugs
            default: .lugs
            }
        case NodeType.circuit: .circuit
        case NodeType.battery: .battery
        case NodeType.powerControl: .powerControl
        default: .other
        }
    }

    /// The role guessed from a node id alone.
    static func forID(_ id: String) -> SpanNodeRole {
        switch id {
        case NodeID.core: return .core
        case NodeID.upstreamLugs, NodeID.documentedUpstreamLugs: return .upstreamLugs
        case NodeID.downstreamLugs, NodeID.documentedDownstreamLugs: return .downstreamLugs
        case NodeID.documentedBattery: return .battery
        case NodeID.documentedPowerControl: return .powerControl
        default: break
        }
        if id.hasPrefix("bess-") { return .battery }
        if id.hasPrefix("pcs-") { return .powerControl }
        let hex = id.utf8.filter { $0 != UInt8(ascii: "-") }
        let isUUID = hex.count == 32 && hex.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        return isUUID ? .circuit : .other
    }
}
