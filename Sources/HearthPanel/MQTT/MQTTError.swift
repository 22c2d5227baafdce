/// An MQTT client failure: a code, a message (with libmosquitto's own text where there is one) and the
/// libmosquitto return code.
public struct MQTTError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case invalidConfiguration = "invalid-configuration"
            case connectionFailed = "connection-failed"
            case notAuthorized = "not-authorized"
            case connectionRefused = "connection-refused"
            case timedOut = "timed-out"
            case notConnected = "not-connected"
            case closed
            case library
        }

        private let value: Value

        /// A bad option (TLS files missing, an empty host, a topic libmosquitto refuses).
        public static let invalidConfiguration = Code(value: .invalidConfiguration)
        /// The TCP or TLS connection could not be made or was lost.
        public static let connectionFailed = Code(value: .connectionFailed)
        /// The broker refused the username or password (CONNACK 4 or 5).
        public static let notAuthorized = Code(value: .notAuthorized)
        /// The broker refused the connection for another reason.
        public static let connectionRefused = Code(value: .connectionRefused)
        /// No answer in time.
        public static let timedOut = Code(value: .timedOut)
        /// An operation that needs a connection was attempted without one.
        public static let notConnected = Code(value: .notConnected)
        /// The client was closed.
        public static let closed = Code(value: .closed)
        /// Any other libmosquitto failure.
        public static let library = Code(value: .library)

        public var description: String { value.rawValue }
    }

    public var code: Code
    public var message: String
    /// libmosquitto's return code (`MOSQ_ERR_*`) or CONNACK code, where there is one.
    public var returnCode: Int32?

    public init(code: Code, message: String, returnCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.returnCode = returnCode
    }

    public var description: String { "MQTT \(code): \(message)" }
}
