/// What the real engine did with one request, as the validating client measured it.
public struct ValidationObservation: Sendable, Hashable, Codable {
    public var id: Int
    /// When the request was sent, seconds from the start of its load level's run.
    public var sentAt: Double
    /// From sending the request to the first content token, seconds.
    public var ttft: Double
    /// From sending the request to the end of the answer, seconds.
    public var e2e: Double
    /// Prompt tokens the engine reported (the requested count when it reported none).
    public var promptTokens: Int
    /// Of those, tokens the engine said it served from its prompt cache (nil: not reported).
    public var cachedTokens: Int?
    /// Tokens generated, as the engine reported (else the content events counted).
    public var completionTokens: Int
    /// Which of the replayer's clients sent it (a closed loop: each client sends after its previous answer ended).
    public var client: Int = 0
    /// Seconds from the end of this client's previous answer to sending this request; nil for a client's first.
    public var gap: Double?

    public init(id: Int, sentAt: Double, ttft: Double, e2e: Double, promptTokens: Int, cachedTokens: Int?, completionTokens: Int) {
        self.id = id
        self.sentAt = sentAt
        self.ttft = ttft
        self.e2e = e2e
        self.promptTokens = promptTokens
        self.cachedTokens = cachedTokens
        self.completionTokens = completionTokens
    }

    /// Time per output token after the first: `(e2e − ttft) / (tokens − 1)`; nil for answers of one token.
    public var tpot: Double? {
        completionTokens > 1 ? (e2e - ttft) / Double(completionTokens - 1) : nil
    }
}

/// Sends one validation request to a real engine and measures it (the CLI's HTTP client; a fake in tests).
public protocol ValidationEngineClient: Sendable {
    /// Sends `request`; `sentAt` is the offset the replayer stamps the observation with.
    func send(_ request: ValidationRequest, sentAt: Double) async throws -> ValidationObservation
}
