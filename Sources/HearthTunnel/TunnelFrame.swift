public import HearthProtocol
public import NIOCore

/// One frame on a node tunnel.
///
/// Wire format: `length: UInt32 BE` (bytes after this field) · `kind: UInt8` · `stream: UInt32 BE` · payload.
public struct TunnelFrame: Sendable {
    public var kind: TunnelFrameKind
    /// 0 for connection-level frames, otherwise the request stream the frame belongs to.
    public var stream: UInt32
    public var payload: ByteBuffer

    public init(kind: TunnelFrameKind, stream: UInt32 = 0, payload: ByteBuffer = ByteBuffer()) {
        self.kind = kind
        self.stream = stream
        self.payload = payload
    }
}
