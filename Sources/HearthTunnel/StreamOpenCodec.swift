public import Foundation
public import HearthProtocol
public import NIOCore
import NIOFoundationCompat

/// The payload of an `open` frame: `headerLength: UInt32 BE` · ``StreamOpen`` JSON · request body bytes.
///
/// The body travels unparsed so that fields Hearth does not know reach the engine unchanged.
public enum StreamOpenCodec {
    public static func encode(_ header: StreamOpen, body: ByteBuffer, stream: UInt32) -> TunnelFrame {
        let headerData = try! JSONEncoder().encode(header)
        var payload = ByteBuffer()
        payload.reserveCapacity(4 + headerData.count + body.readableBytes)
        payload.writeInteger(UInt32(headerData.count))
        payload.writeBytes(headerData)
        var body = body
        payload.writeBuffer(&body)
        return TunnelFrame(kind: .open, stream: stream, payload: payload)
    }

    public static func decode(_ frame: TunnelFrame) throws -> (header: StreamOpen, body: ByteBuffer) {
        var payload = frame.payload
        guard let headerLength = payload.readInteger(as: UInt32.self),
            let headerBytes = payload.readSlice(length: Int(headerLength))
        else {
            throw TunnelErrorMessage(code: .malformedFrame, message: "open frame is shorter than its header")
        }
        do {
            let header = try JSONDecoder().decode(StreamOpen.self, from: headerBytes)
            return (header, payload)
        } catch {
            throw TunnelErrorMessage(code: .malformedFrame, message: "invalid open header: \(error)")
        }
    }
}
