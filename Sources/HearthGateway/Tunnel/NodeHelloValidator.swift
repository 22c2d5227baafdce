import HearthCore
import HearthProtocol

/// Checks a node's self-description before it joins the registry: a node is untrusted input.
enum NodeHelloValidator {
    static let maximumModels = 64
    static let maximumSlots = 4096

    static func validate(_ hello: NodeHello) throws {
        guard hello.protocolVersion == TunnelProtocol.version else {
            throw TunnelErrorMessage(
                code: .versionMismatch,
                message: "gateway speaks tunnel protocol \(TunnelProtocol.version), node sent \(hello.protocolVersion)"
            )
        }
        try check(isIdentifier(hello.nodeID.rawValue), "node_id must be 1-128 characters of [A-Za-z0-9._-]")
        try check(!hello.models.isEmpty && hello.models.count <= maximumModels, "models must list 1-\(maximumModels) models")
        for model in hello.models {
            try check(!model.id.isEmpty && model.id.utf8.count <= 256, "model ids must be 1-256 bytes")
            try check(model.contextTokens > 0, "model \(model.id) has a non-positive context size")
        }
        try check((1...maximumSlots).contains(hello.slots), "slots must be 1-\(maximumSlots)")
        try check(hello.engineKind.utf8.count <= 64, "engine_kind is too long")
    }

    private static func isIdentifier(_ value: String) -> Bool {
        !value.isEmpty && value.utf8.count <= 128
            && value.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x2E || byte == 0x5F || byte == 0x2D
            }
    }

    private static func check(_ condition: Bool, _ message: String) throws {
        if !condition { throw TunnelErrorMessage(code: .malformedFrame, message: "invalid hello: \(message)") }
    }
}
