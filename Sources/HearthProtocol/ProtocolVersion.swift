/// Versions of the node ↔ gateway tunnel protocol.
public enum TunnelProtocol {
    /// The version this build speaks. A peer that sends another version is refused with
    /// ``TunnelErrorCode/versionMismatch`` rather than half understood.
    /// 2: `open`, `head` and `end` carry their fixed binary layouts (HearthTunnel's `StreamMessageCodec`), not JSON.
    /// 3: `heartbeat` and `heartbeatAck` carry their fixed binary layouts (HearthTunnel's `HeartbeatCodec`), not JSON.
    public static let version = 3

    /// Bytes of frame header after the length prefix: kind (1) and stream id (4).
    public static let headerBytes = 5

    /// Bytes a node may send on one stream before the gateway grants more. Large enough that a
    /// fast stream never waits on a round trip; small enough that a node cannot flood gateway memory.
    public static let initialStreamWindow = 1 << 20
}
