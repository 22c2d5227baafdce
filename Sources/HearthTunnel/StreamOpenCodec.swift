public import HearthProtocol
public import NIOCore

/// The payload of an `open` frame: the ``StreamOpen`` header in its binary layout (``StreamMessageCodec``), then the
/// request body bytes. The body travels unparsed so that fields Hearth does not know reach the engine unchanged.
public enum StreamOpenCodec {
    public static func encode(_ header: StreamOpen, body: ByteBuffer, stream: UInt32) -> TunnelFrame {
        StreamMessageCodec.open(header, body: body, stream: stream)
    }

    public static func decode(_ frame: TunnelFrame) throws -> (header: StreamOpen, body: ByteBuffer) {
        try StreamMessageCodec.decodeOpen(frame)
    }
}
