extension MQTTClient {
    /// Everything needed to reach one broker. Defaults suit a SPAN panel's broker except the host, port and
    /// credentials, which come from registration (``SpanCredentials``).
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// MQTT client id; must be unique on the broker (a second client with the same id takes over the session).
        public var clientID: String
        public var username: String?
        public var password: String?
        public var tls: TLS?
        /// Seconds between keepalive pings (libmosquitto's minimum is 5).
        public var keepAliveSeconds: Int
        /// Payloads larger than this are not copied; the message arrives with ``MQTTMessage/payloadTooLarge``.
        public var maximumPayloadBytes: Int
        /// Automatic reconnection backoff after a lost connection, seconds (exponential between the two).
        public var reconnectDelaySeconds: ClosedRange<Int>
        /// How long ``MQTTClient/connect()`` waits for the broker's CONNACK.
        public var connectTimeout: Duration
        /// How long ``MQTTClient/subscribe(_:qos:)`` waits for the SUBACK.
        public var subscribeTimeout: Duration
        /// The message the broker publishes if this client vanishes (Homie devices set `$state` = `lost`).
        public var will: Will?
        /// Messages buffered for a slow consumer; the oldest are dropped beyond this (newest win: a panel client
        /// wants the latest figures).
        public var bufferedMessages: Int

        public init(
            host: String, port: Int, clientID: String, username: String? = nil, password: String? = nil, tls: TLS? = nil,
            keepAliveSeconds: Int = 30, maximumPayloadBytes: Int = 1 << 20, reconnectDelaySeconds: ClosedRange<Int> = 1...30,
            connectTimeout: Duration = .seconds(10), subscribeTimeout: Duration = .seconds(10), will: Will? = nil,
            bufferedMessages: Int = 8_192
        ) {
            self.host = host
            self.port = port
            self.clientID = clientID
            self.username = username
            self.password = password
            self.tls = tls
            self.keepAliveSeconds = keepAliveSeconds
            self.maximumPayloadBytes = maximumPayloadBytes
            self.reconnectDelaySeconds = reconnectDelaySeconds
            self.connectTimeout = connectTimeout
            self.subscribeTimeout = subscribeTimeout
            self.will = will
            self.bufferedMessages = bufferedMessages
        }
    }

    /// TLS settings: the CA that signed the broker's certificate and, optionally, a client certificate.
    public struct TLS: Sendable, Hashable {
        /// PEM file of the CA (for a SPAN panel: its `GET /api/v2/certificate/ca`).
        public var caFile: String
        public var certificateFile: String?
        public var keyFile: String?
        /// Check the broker's certificate names the host connected to. A panel reached by IP address whose
        /// certificate names only its mDNS host name needs false; the chain is still verified against `caFile`.
        public var verifiesHostname: Bool

        public init(caFile: String, certificateFile: String? = nil, keyFile: String? = nil, verifiesHostname: Bool = true) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.verifiesHostname = verifiesHostname
        }
    }

    /// A last-will message.
    public struct Will: Sendable, Hashable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: Int
        public var retain: Bool

        public init(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = true) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    /// Counters, for the agent's metrics.
    public struct Statistics: Sendable, Hashable {
        public var messagesReceived = 0
        /// Payloads over ``Configuration/maximumPayloadBytes`` (delivered without their bytes).
        public var oversizePayloads = 0
        /// Messages whose topic was not valid UTF-8 (dropped).
        public var invalidTopics = 0
        /// Successful connections after the first one.
        public var reconnects = 0
        /// Connections lost after having been made.
        public var disconnects = 0

        public init() {}
    }
}
