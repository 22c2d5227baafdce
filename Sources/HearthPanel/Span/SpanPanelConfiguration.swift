/// How to reach one SPAN panel's broker and read its Homie device.
public struct SpanPanelConfiguration: Sendable {
    /// The panel's serial number: topics are `ebus/5/<serial>/...`.
    public var serial: String
    public var credentials: SpanCredentials
    /// Broker host; nil uses ``SpanCredentials/brokerHost``. Set it when the panel's advertised host name does not
    /// resolve on the node's network (its IP address works; then TLS hostname checking must be off).
    public var host: String?
    /// Broker port; nil uses ``SpanCredentials/brokerPort``.
    public var port: Int?
    /// PEM CA file for TLS (the panel's `GET /api/v2/certificate/ca`). nil connects without TLS, which only a
    /// local development broker (``SpanPanelPublisher``) accepts.
    public var caFile: String?
    /// Whether TLS checks the certificate names ``host``.
    public var verifiesHostname: Bool
    /// MQTT client id; unique on the panel's broker.
    public var clientID: String
    public var keepAliveSeconds: Int
    public var connectTimeout: Duration
    public var parsing: SpanPanelState.Options
    /// Called (off any lock, on the reader's task) for each rejected message, so the agent can log it.
    public var onRejection: (@Sendable (PanelRejection) -> Void)?
    /// Called for each failed attempt to connect and subscribe (the panel tries again after ``reconnectDelay``).
    public var onConnectionFailure: (@Sendable (MQTTError) -> Void)?
    /// The wait before connecting again after a failed attempt: from the lower bound, doubling up to the upper.
    public var reconnectDelay: ClosedRange<Duration> = .seconds(1)...(.seconds(30))

    public init(
        serial: String, credentials: SpanCredentials, host: String? = nil, port: Int? = nil, caFile: String? = nil,
        verifiesHostname: Bool = true, clientID: String? = nil, keepAliveSeconds: Int = 30, connectTimeout: Duration = .seconds(10),
        parsing: SpanPanelState.Options = .init(), onRejection: (@Sendable (PanelRejection) -> Void)? = nil,
        onConnectionFailure: (@Sendable (MQTTError) -> Void)? = nil
    ) {
        self.onConnectionFailure = onConnectionFailure
        self.serial = serial
        self.credentials = credentials
        self.host = host
        self.port = port
        self.caFile = caFile
        self.verifiesHostname = verifiesHostname
        self.clientID = clientID ?? "hearth-node-\(serial)"
        self.keepAliveSeconds = keepAliveSeconds
        self.connectTimeout = connectTimeout
        self.parsing = parsing
        self.onRejection = onRejection
    }

    /// The MQTT client configuration this panel connects with.
    public var mqtt: MQTTClient.Configuration {
        MQTTClient.Configuration(
            host: host ?? credentials.brokerHost, port: port ?? credentials.brokerPort, clientID: clientID,
            username: credentials.mqttUsername, password: credentials.mqttPassword,
            tls: caFile.map { MQTTClient.TLS(caFile: $0, verifiesHostname: verifiesHostname) }, keepAliveSeconds: keepAliveSeconds,
            connectTimeout: connectTimeout)
    }
}
