/// What a SPAN panel's v2 registration returns that a client needs: the REST access token and the credentials
/// of the panel's own MQTT broker. Persist and reuse them: every registration adds a client entry on the panel.
public struct SpanCredentials: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Bearer token for the panel's v2 REST API.
    public var accessToken: String
    public var mqttUsername: String
    public var mqttPassword: String
    /// The panel's broker host as the panel names it (often its mDNS host name; the agent may override it).
    public var brokerHost: String
    /// The broker's MQTT-over-TLS port (8883 on panels seen so far).
    public var brokerPort: Int
    /// The panel's serial number (`ebus/5/<serial>/...`), when registration reported it.
    public var serialNumber: String?

    public init(
        accessToken: String, mqttUsername: String, mqttPassword: String, brokerHost: String, brokerPort: Int = 8883,
        serialNumber: String? = nil
    ) {
        self.accessToken = accessToken
        self.mqttUsername = mqttUsername
        self.mqttPassword = mqttPassword
        self.brokerHost = brokerHost
        self.brokerPort = brokerPort
        self.serialNumber = serialNumber
    }

    /// Secrets redacted, so credentials can be logged by accident without leaking.
    public var description: String {
        "SpanCredentials(user: \(mqttUsername), broker: \(brokerHost):\(brokerPort), serial: \(serialNumber ?? "?"), token/password: <redacted>)"
    }
}
