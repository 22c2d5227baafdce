/// The performance model's forecast for one request on one node.
public struct Prediction: Sendable, Hashable, Codable {
    /// Time to first token as the client will see it, seconds.
    public var ttftSeconds: Double
    /// Mean time per output token, seconds.
    public var tpotSeconds: Double
    /// Of the TTFT, the part spent waiting for a slot or for earlier prefills.
    public var queueSeconds: Double
    /// Prompt tokens served from the node's prefix cache.
    public var cachedTokens: Int

    public init(ttftSeconds: Double, tpotSeconds: Double, queueSeconds: Double, cachedTokens: Int) {
        self.ttftSeconds = ttftSeconds
        self.tpotSeconds = tpotSeconds
        self.queueSeconds = queueSeconds
        self.cachedTokens = cachedTokens
    }
}
