/// The size figures of a served model that the performance model needs.
public struct ModelSpec: Sendable, Hashable, Codable {
    public var id: String
    public var parametersBillions: Double
    /// Bytes per weight as served (1 for FP8/int8).
    public var bytesPerParameter: Double
    /// KV-cache bytes per token (all layers, K and V).
    public var kvBytesPerToken: Double
    public var contextTokens: Int

    public init(id: String, parametersBillions: Double, bytesPerParameter: Double, kvBytesPerToken: Double, contextTokens: Int) {
        self.id = id
        self.parametersBillions = parametersBillions
        self.bytesPerParameter = bytesPerParameter
        self.kvBytesPerToken = kvBytesPerToken
        self.contextTokens = contextTokens
    }

    /// Llama 3.1 8B with FP8 weights and FP8 KV cache: 8.03 B parameters; 32 layers × 8 KV heads ×
    /// 128 dims × 2 (K, V) × 1 byte = 64 KiB per token; 128k context (Meta's model card).
    public static let llama31_8B = ModelSpec(
        id: "llama-3.1-8b", parametersBillions: 8.03, bytesPerParameter: 1, kvBytesPerToken: 65_536, contextTokens: 131_072)

    public var weightBytes: Double { parametersBillions * 1e9 * bytesPerParameter }
}
