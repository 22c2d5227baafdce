public import Foundation
public import HearthProtocol
public import NIOCore
import NIOFoundationCompat

extension TunnelFrame {
    /// A frame whose payload is `message` as JSON.
    public static func json(_ kind: TunnelFrameKind, stream: UInt32 = 0, _ message: some Encodable) -> TunnelFrame {
        // Encoding our own message types cannot fail; a failure here is a programming error.
        let data = try! JSONEncoder().encode(message)
        return TunnelFrame(kind: kind, stream: stream, payload: ByteBuffer(data: data))
    }

    /// Decodes the payload as JSON, turning any failure into a ``TunnelErrorMessage`` that names the frame.
    public func decodeJSON<Message: Decodable>(_ type: Message.Type) throws -> Message {
        do {
            return try JSONDecoder().decode(type, from: payload)
        } catch {
            throw TunnelErrorMessage(code: .malformedFrame, message: "invalid \(kind) payload: \(error)")
        }
    }

    /// The payload of a `windowUpdate` frame.
    public static func windowUpdate(stream: UInt32, bytes: Int) -> TunnelFrame {
        var payload = ByteBuffer()
        payload.writeInteger(UInt32(clamping: bytes))
        return TunnelFrame(kind: .windowUpdate, stream: stream, payload: payload)
    }

    /// The credit a `windowUpdate` frame grants.
    public func windowIncrement() throws -> Int {
        guard payload.readableBytes == 4, let value = payload.getInteger(at: payload.readerIndex, as: UInt32.self) else {
            throw TunnelErrorMessage(code: .malformedFrame, message: "window update must carry exactly 4 bytes")
        }
        return Int(value)
    }
}
