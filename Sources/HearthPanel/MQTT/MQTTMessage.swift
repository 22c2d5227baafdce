/// One message received from the broker.
public struct MQTTMessage: Sendable, Hashable {
    public var topic: String
    /// The payload bytes; empty when ``payloadTooLarge`` (the bytes were never copied).
    public var payload: [UInt8]
    /// Whether the broker delivered it as a retained message (in MQTT 3.1.1: only when it was stored before
    /// this client subscribed).
    public var retained: Bool
    /// The payload exceeded ``MQTTClient/Configuration/maximumPayloadBytes``. The message is still delivered
    /// (with no payload) so a consumer can treat the topic's value as unknown rather than keep an old one.
    public var payloadTooLarge: Bool

    public init(topic: String, payload: [UInt8], retained: Bool = false, payloadTooLarge: Bool = false) {
        self.topic = topic
        self.payload = payload
        self.retained = retained
        self.payloadTooLarge = payloadTooLarge
    }
}
