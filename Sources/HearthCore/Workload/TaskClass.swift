/// The kind of inference work a request is, which decides the latency targets it is judged by.
///
/// The raw values are the wire spelling: the `X-Hearth-Task` header and `metadata.task`.
public enum TaskClass: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Multi-turn conversation: judged by both TTFT and TPOT; reuses the previous turn's KV cache.
    case chat
    /// Document question answering: long prompt, short answer; prefill-bound, judged mostly by TTFT.
    case document
    /// Code generation: long output; decode-bound, judged mostly by TPOT.
    case code
    /// Offline work with a deadline in minutes; runs only on spare capacity.
    case batch

    /// Whether a person is waiting on the stream (everything but ``batch``).
    public var isInteractive: Bool { self != .batch }

    /// A dense index (0..<4) for per-class arrays.
    public var index: Int {
        switch self {
        case .chat: 0
        case .document: 1
        case .code: 2
        case .batch: 3
        }
    }

    public var description: String { rawValue }
}
