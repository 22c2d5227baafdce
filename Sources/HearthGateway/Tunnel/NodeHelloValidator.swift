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
        try check(
            hello.hardware.gpus.count <= HardwareBounds.maximumGPUs, "more than \(HardwareBounds.maximumGPUs) GPUs is not a home node")
        try check(hello.hardware.gpus.allSatisfy { $0.utf8.count <= 128 }, "GPU names must be at most 128 bytes")
        try check(hello.hardware.cpuCores >= 0, "cpu_cores is negative")
    }

    /// The hello the gateway acts on. A profile claiming speed beyond physics is dropped (the scheduler then
    /// assumes a conservative one and learns the real speed from answers), so a lying node cannot look faster
    /// than an honest one. Fit noise (slightly negative terms) is clamped to zero; the fields the gateway owns
    /// (batch size = slots, power cap, typical answer length) are reset to its own values. Slots and what is left of
    /// the profiles are then held within the declared hardware's ``HardwareBounds``: no faster, no more sequences.
    static func plausible(_ hello: NodeHello) -> NodeHello {
        var hello = hello
        let bounds = HardwareBounds(gpuNames: hello.hardware.gpus, cpuCores: hello.hardware.cpuCores)
        hello.slots = min(hello.slots, bounds.maximumSlots)
        hello.profiles = hello.profiles.map { profiles in
            profiles.prefix(maximumModels).compactMap { claimed -> NodeProfile? in
                let limits = NodeTelemetryLimits.self
                let seconds = [
                    claimed.prefillOverheadSeconds, claimed.decodeBaseSeconds, claimed.decodePerSequenceSeconds, claimed.linkRTTSeconds,
                ]
                guard claimed.prefillTokensPerSecond.isFinite, claimed.prefillTokensPerSecond > 0,
                    claimed.prefillTokensPerSecond <= limits.maximumPrefillTokensPerSecond,
                    claimed.decodeBaseSeconds >= limits.minimumDecodeStepSeconds,
                    seconds.allSatisfy({ $0.isFinite && $0 <= limits.maximumSeconds })
                else { return nil }
                return NodeProfile(
                    model: claimed.model, prefillTokensPerSecond: claimed.prefillTokensPerSecond,
                    prefillOverheadSeconds: max(0, claimed.prefillOverheadSeconds), decodeBaseSeconds: claimed.decodeBaseSeconds,
                    decodePerSequenceSeconds: max(0, claimed.decodePerSequenceSeconds), maxBatch: hello.slots,
                    prefixCacheBlocks: min(max(0, claimed.prefixCacheBlocks), 1 << 24), linkRTTSeconds: max(0, claimed.linkRTTSeconds)
                ).clamped(to: bounds)
            }
        }
        return hello
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
