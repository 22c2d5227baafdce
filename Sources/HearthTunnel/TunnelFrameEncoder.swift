public import HearthProtocol
public import NIOCore

/// Writes ``TunnelFrame``s in the wire format ``TunnelFrameDecoder`` reads.
public struct TunnelFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = TunnelFrame

    public init() {}

    public func encode(data frame: TunnelFrame, out: inout ByteBuffer) throws {
        out.reserveCapacity(minimumWritableBytes: 4 + TunnelProtocol.headerBytes + frame.payload.readableBytes)
        out.writeInteger(UInt32(TunnelProtocol.headerBytes + frame.payload.readableBytes))
        out.writeInteger(frame.kind.rawValue)
        out.writeInteger(frame.stream)
        var payload = frame.payload
        out.writeBuffer(&payload)
    }
}
