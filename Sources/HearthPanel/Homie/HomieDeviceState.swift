/// A Homie v5 device's `$state` (Homie convention 5.0, "Device lifecycle").
///
/// Only `ready` means the device's property values are live. `lost` is what the broker publishes as the device's
/// last will when its connection drops, so it is the usual sign of a dead panel.
public enum HomieDeviceState: String, Sendable, Hashable, CaseIterable {
    case initializing = "init"
    case ready
    case disconnected
    case sleeping
    case lost

    /// Parses a `$state` payload exactly as the convention spells it; anything else is nil (treated as not ready).
    public init?(payload: String) {
        self.init(rawValue: payload)
    }
}
