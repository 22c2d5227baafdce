public import HearthProtocol
public import NIOCore

/// Splits a byte stream into ``TunnelFrame``s, refusing frames over a size limit before buffering them.
///
/// The gateway decodes frames from nodes it does not trust: the limit is checked on the length
/// prefix alone, so a hostile node cannot make the gateway buffer a huge frame.
public struct TunnelFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = TunnelFrame

    public let maximumFrameBytes: Int

    public init(maximumFrameBytes: Int) {
        self.maximumFrameBytes = maximumFrameBytes
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> TunnelFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        let frameBytes = Int(length)
        guard frameBytes >= TunnelProtocol.headerBytes else {
            throw TunnelErrorMessage(code: .malformedFrame, message: "frame length \(frameBytes) is shorter than its header")
        }
        guard frameBytes <= maximumFrameBytes else {
            throw TunnelErrorMessage(
                code: .frameTooLarge,
                message: "frame of \(frameBytes) bytes exceeds the limit of \(maximumFrameBytes)"
            )
        }
        guard buffer.readableBytes >= 4 + frameBytes else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let rawKind = buffer.readInteger(as: UInt8.self)!
        let stream = buffer.readInteger(as: UInt32.self)!
        let payload = buffer.readSlice(length: frameBytes - TunnelProtocol.headerBytes)!
        guard let kind = TunnelFrameKind(rawValue: rawKind) else {
            throw TunnelErrorMessage(code: .malformedFrame, message: "unknown frame kind \(rawKind)")
        }
        return TunnelFrame(kind: kind, stream: stream, payload: payload)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> TunnelFrame? {
        try decode(buffer: &buffer)
    }
}
