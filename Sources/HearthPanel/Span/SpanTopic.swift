/// One MQTT topic under a SPAN panel's Homie device, classified.
///
/// Topics are `ebus/5/<serial>/...` (Homie domain `ebus`, Homie major version 5; span-panel-api
/// `mqtt/const.py` `TOPIC_PREFIX`, `PROPERTY_TOPIC_FMT`, `PROPERTY_SET_TOPIC_FMT`).
public enum SpanTopic: Sendable, Hashable {
    /// `<prefix>/$state`.
    case state
    /// `<prefix>/$description`.
    case description
    /// `<prefix>/<node>/<property>`.
    case property(node: String, property: String)
    /// Under the device but not read by Hearth by design: commands (`.../set`), `$target`, other `$` attributes.
    case ignored
    /// Under the device but not a Homie topic shape (bad ids, too deep).
    case malformed(reason: String)
    /// Not under this device at all.
    case foreign

    /// The Homie domain and version segment SPAN uses.
    public static let root = "ebus/5"

    /// The device's topic prefix, without a trailing slash.
    public static func prefix(serial: String) -> String { "\(root)/\(serial)" }

    /// The subscription filter for everything a device publishes.
    public static func wildcard(serial: String) -> String { "\(prefix(serial: serial))/#" }

    /// The topic of a node's property.
    public static func property(serial: String, node: String, property: String) -> String {
        "\(prefix(serial: serial))/\(node)/\(property)"
    }

    /// Classifies `topic` for the device with `serial`.
    public static func classify(_ topic: String, serial: String) -> SpanTopic {
        let prefix = self.prefix(serial: serial) + "/"
        guard topic.hasPrefix(prefix) else { return .foreign }
        let rest = topic.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        switch rest.count {
        case 1:
            switch rest[0] {
            case "$state": return .state
            case "$description": return .description
            default: return rest[0].hasPrefix("$") ? .ignored : .malformed(reason: "a bare node with no property")
            }
        case 2:
            if rest[0].hasPrefix("$") { return .ignored }
            guard isHomieID(rest[0]), isHomieID(rest[1]) else { return .malformed(reason: "node or property id is not a Homie id") }
            return .property(node: String(rest[0]), property: String(rest[1]))
        case 3:
            if rest[0].hasPrefix("$") || rest[2] == "set" || rest[2] == "$target" { return .ignored }
            return .malformed(reason: "unexpected third level \(rest[2].prefix(32))")
        default:
            return rest.first?.hasPrefix("$") == true ? .ignored : .malformed(reason: "too many levels")
        }
    }

    /// Homie 5 ids: lowercase a–z, digits and hyphens; capped at 64 characters here.
    static func isHomieID(_ id: Substring) -> Bool {
        !id.isEmpty && id.utf8.count <= 64
            && id.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "-") }
    }
}
