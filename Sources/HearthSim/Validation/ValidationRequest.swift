public import HearthCore

/// One request of a validation run: its prompt as a list of segments, how many tokens to generate, and the
/// conversation it belongs to (a conversation's requests are sent one after another, in order).
///
/// Segments give the prompt an identity the engine's prefix cache and the simulator's block cache both see:
/// two prompts share text exactly as far as they share leading segments.
public struct ValidationRequest: Sendable, Hashable, Codable {
    public var id: Int
    public var workload: String
    public var conversation: Int
    public var segments: [PromptSegment]
    public var outputTokens: Int
    public var taskClass: TaskClass

    public init(id: Int, workload: String, conversation: Int, segments: [PromptSegment], outputTokens: Int, taskClass: TaskClass) {
        self.id = id
        self.workload = workload
        self.conversation = conversation
        self.segments = segments
        self.outputTokens = outputTokens
        self.taskClass = taskClass
    }

    /// Prompt tokens the segments ask for.
    public var promptTokens: Int { segments.reduce(0) { $0 &+ $1.tokens } }
}

/// A run of `tokens` prompt tokens whose text is fixed by `key`: the same key and length give the same text.
public struct PromptSegment: Sendable, Hashable, Codable {
    public var key: UInt64
    public var tokens: Int

    public init(key: UInt64, tokens: Int) {
        self.key = key
        self.tokens = max(0, tokens)
    }
}
