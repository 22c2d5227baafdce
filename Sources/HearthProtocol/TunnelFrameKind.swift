/// The kind of a frame on a node tunnel. The numeric values are the wire format: never reuse one.
///
/// Direction is fixed per kind; a frame arriving in the wrong direction is a protocol error.
public enum TunnelFrameKind: UInt8, Sendable, CaseIterable {
    /// node → gateway, stream 0: ``NodeHello`` (JSON). Must be the first frame.
    case hello = 1
    /// gateway → node, stream 0: ``GatewayWelcome`` (JSON).
    case welcome = 2
    /// node → gateway, stream 0: ``NodeHeartbeat`` (binary, HearthTunnel's `HeartbeatCodec`).
    case heartbeat = 3
    /// either way: ``TunnelErrorMessage`` (JSON). On stream 0 it concerns the connection, else one stream.
    case error = 4
    /// gateway → node: opens a request stream. Payload: the binary ``StreamOpen`` header + request body (HearthTunnel's `StreamMessageCodec`).
    case open = 5
    /// node → gateway: ``StreamHead`` (binary, `StreamMessageCodec`), the engine's status and content type.
    case head = 6
    /// node → gateway: response body bytes, counted against the stream's flow-control window.
    case data = 7
    /// node → gateway: ``StreamEnd`` (binary, `StreamMessageCodec`), the last frame of a stream (usage, or the failure).
    case end = 8
    /// gateway → node: stop this stream now (client gone, deadline passed). Empty payload.
    case cancel = 9
    /// gateway → node: the gateway consumed this many more bytes of the stream (UInt32, big endian).
    case windowUpdate = 10
    /// node → gateway, stream 0: the node stops taking new streams (shutdown). Empty payload.
    case goingAway = 11
    /// gateway → node, stream 0: ``PowerLimit`` (JSON), the transformer budget and grid cap in force.
    case powerLimit = 12
    /// node → gateway, stream 0: ``RenewalRequest`` (JSON): renew the client certificate with a fresh attestation.
    case renewRequest = 13
    /// gateway → node, stream 0: ``RenewalResponse`` (JSON).
    case renewed = 14
    /// node → gateway, stream 0: HearthCore's `TamperReport` (JSON), sent at once when a tamper signal is found.
    case tamperReport = 15
    /// gateway → node, stream 0: the heartbeat's sequence (`UInt64`, `HeartbeatCodec`), sent the moment it arrives: the node's RTT probe.
    case heartbeatAck = 16
}
