/// Why a peer refused a frame, a stream or the whole connection.
public struct TunnelErrorMessage: Codable, Sendable, Equatable, Error {
    public var code: TunnelErrorCode
    public var message: String

    public init(code: TunnelErrorCode, message: String) {
        self.code = code
        self.message = message
    }
}

/// Machine-readable tunnel error codes. Unknown codes from a newer peer decode as ``other``.
public enum TunnelErrorCode: String, Codable, Sendable {
    case versionMismatch = "version_mismatch"
    case malformedFrame = "malformed_frame"
    case frameTooLarge = "frame_too_large"
    case unexpectedFrame = "unexpected_frame"
    case unknownStream = "unknown_stream"
    case flowControl = "flow_control"
    case notRegistered = "not_registered"
    case duplicateNode = "duplicate_node"
    case engineFailed = "engine_failed"
    /// The node hands the stream back unfinished (draining for power, shutting down): place it elsewhere.
    case handedBack = "handed_back"
    /// The node is not admitting new streams now (power capped to its floor, draining).
    case notAdmitting = "not_admitting"
    case cancelled
    case other

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        self = TunnelErrorCode(rawValue: raw) ?? .other
    }
}
