public import HearthCore

/// One request of a trace, in trace time (seconds from the trace's first request).
public struct TraceRequest: Sendable, Hashable {
    public var arrival: Double
    public var promptTokens: Int
    public var outputTokens: Int
    /// Leading 512-token prefix-block hashes (Mooncake `hash_ids`); empty when the trace has none.
    public var prefixHashes: [UInt64]
    public var sessionKey: UInt64?
    /// Turn number within its conversation, 1 for the first (or when unknown).
    public var turns: Int
    /// A class the trace declares, if any.
    public var declaredClass: TaskClass?

    public init(
        arrival: Double, promptTokens: Int, outputTokens: Int, prefixHashes: [UInt64] = [], sessionKey: UInt64? = nil,
        turns: Int = 1, declaredClass: TaskClass? = nil
    ) {
        self.arrival = arrival
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.prefixHashes = prefixHashes
        self.sessionKey = sessionKey
        self.turns = turns
        self.declaredClass = declaredClass
    }
}
