/// One message from the panel that HearthPanel refused to use, and why.
///
/// The module has no logger of its own (it depends only on HearthCore and libmosquitto), so the agent
/// logs these from ``SpanPanelConfiguration/onRejection`` or reads the counters in ``PanelDiagnostics``.
public struct PanelRejection: Sendable, Hashable, CustomStringConvertible {
    /// The kind of rejection: a struct over a private enum so kinds can be added without breaking callers.
    public struct Kind: Sendable, Hashable, CustomStringConvertible, CaseIterable {
        private enum Code: String, Sendable, Hashable, CaseIterable {
            case payloadTooLarge = "payload-too-large"
            case invalidUTF8 = "invalid-utf8"
            case notANumber = "not-a-number"
            case nonFinite = "non-finite"
            case outOfRange = "out-of-range"
            case unsupportedUnit = "unsupported-unit"
            case unexpectedValue = "unexpected-value"
            case malformedDescription = "malformed-description"
            case malformedTopic = "malformed-topic"
            case unknownNode = "unknown-node"
            case tooManyNodes = "too-many-nodes"
            case deviceNotReady = "device-not-ready"
        }

        private let code: Code

        /// A payload larger than the client's cap (64 KiB by default); its bytes were never copied.
        public static let payloadTooLarge = Kind(code: .payloadTooLarge)
        /// A payload that is not UTF-8 text (Homie payloads are UTF-8 strings).
        public static let invalidUTF8 = Kind(code: .invalidUTF8)
        /// Text where a Homie `float`/`integer` was expected ("abc", JSON, "0x10", " 12").
        public static let notANumber = Kind(code: .notANumber)
        /// NaN, infinity, or a literal too large for a double ("1e400").
        public static let nonFinite = Kind(code: .nonFinite)
        /// A number outside the physically plausible range for the property (a negative breaker rating).
        public static let outOfRange = Kind(code: .outOfRange)
        /// A `$description` unit this client cannot convert to SI.
        public static let unsupportedUnit = Kind(code: .unsupportedUnit)
        /// An enum, boolean or name value that is not one of the allowed forms.
        public static let unexpectedValue = Kind(code: .unexpectedValue)
        /// A `$description` that is not the Homie v5 JSON shape; the previous description is kept.
        public static let malformedDescription = Kind(code: .malformedDescription)
        /// A topic under the device that is not `$state`, `$description` or `<node>/<property>` with Homie ids.
        public static let malformedTopic = Kind(code: .malformedTopic)
        /// A property of a node that the device's `$description` does not list.
        public static let unknownNode = Kind(code: .unknownNode)
        /// More distinct nodes than the client keeps (a flood of made-up node ids).
        public static let tooManyNodes = Kind(code: .tooManyNodes)
        /// `$state` is disconnected, sleeping, lost or garbage: live figures are withheld (`init` withholds them too,
        /// but is the normal start of a device and not counted).
        public static let deviceNotReady = Kind(code: .deviceNotReady)

        public static var allCases: [Kind] { Code.allCases.map(Kind.init(code:)) }

        public var description: String { code.rawValue }
    }

    public var kind: Kind
    /// The MQTT topic the message came on (truncated to 200 characters).
    public var topic: String
    /// What was wrong, for a log line (never includes more than a short prefix of the payload).
    public var detail: String

    public init(kind: Kind, topic: String, detail: String) {
        self.kind = kind
        self.topic = topic.count > 200 ? String(topic.prefix(200)) + "…" : topic
        self.detail = detail
    }

    public var description: String { "\(kind) on \(topic): \(detail)" }
}
