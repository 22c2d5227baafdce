/// What the scheduler needs to know about one request.
public struct SchedulingRequest: Sendable, Hashable {
    public var model: String
    public var taskClass: TaskClass
    public var promptTokens: Int
    public var maxOutputTokens: Int
    /// Hashes of the prompt's leading 512-token blocks, in order (empty when unknown).
    public var prefixHashes: [UInt64]
    /// A stable key for a multi-turn conversation (for example a hash of its first message), if known.
    public var sessionKey: UInt64?
    /// When the request reached the gateway, in the caller's seconds.
    public var arrival: Double

    public init(
        model: String, taskClass: TaskClass, promptTokens: Int, maxOutputTokens: Int,
        prefixHashes: [UInt64] = [], sessionKey: UInt64? = nil, arrival: Double
    ) {
        self.model = model
        self.taskClass = taskClass
        self.promptTokens = promptTokens
        self.maxOutputTokens = maxOutputTokens
        self.prefixHashes = prefixHashes
        self.sessionKey = sessionKey
        self.arrival = arrival
    }

    /// The key that affinity policies hash: the session key, else the first prefix block.
    @inlinable
    public var affinityKey: UInt64? { sessionKey ?? prefixHashes.first }
}
