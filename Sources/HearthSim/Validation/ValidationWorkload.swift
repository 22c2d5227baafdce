public import HearthCore

/// The built-in workloads of `hearth sim validate`, sized for a small CPU engine (a few seconds per request).
///
/// - `chat-reuse`: multi-turn conversations behind one shared system prompt; each turn resends the whole
///   conversation so far, which the engine's prompt cache mostly holds.
/// - `document-prefill`: several questions over one long document; the first question pays the document's
///   prefill, the later ones find it cached.
/// - `code-decode`: short prompts, long answers: decode-bound.
public enum ValidationWorkload: String, Sendable, Hashable, Codable, CaseIterable {
    case chatReuse = "chat-reuse"
    case documentPrefill = "document-prefill"
    case codeDecode = "code-decode"
}

/// How big the generated workloads are; ``standard`` is what the benchmark table uses, ``smoke`` what a quick
/// end-to-end check sends.
public struct ValidationWorkloadShape: Sendable, Hashable {
    /// Conversations (chat), documents (document) or requests (code).
    public var conversations: Int
    /// Turns per conversation (chat) or questions per document.
    public var turns: Int
    /// Multiplies every prompt and output length (at least one token each).
    public var tokenScale: Double

    public init(conversations: Int, turns: Int, tokenScale: Double = 1) {
        self.conversations = max(1, conversations)
        self.turns = max(1, turns)
        self.tokenScale = tokenScale > 0 && tokenScale.isFinite ? tokenScale : 1
    }

    public static let standard = ValidationWorkloadShape(conversations: 4, turns: 3)
    public static let smoke = ValidationWorkloadShape(conversations: 2, turns: 2, tokenScale: 0.15)
}

/// Generates a built-in workload's requests, deterministic for a seed.
public struct ValidationWorkloadGenerator: Sendable {
    public var shape: ValidationWorkloadShape
    public var seed: UInt64

    public init(shape: ValidationWorkloadShape = .standard, seed: UInt64 = 1) {
        self.shape = shape
        self.seed = seed
    }

    /// Segment keys: workload tag in the top byte so workloads never share text by accident.
    static func key(_ workload: ValidationWorkload, _ parts: Int...) -> UInt64 {
        var hash: UInt64 = UInt64(ValidationWorkload.allCases.firstIndex(of: workload) ?? 0) &+ 1
        for part in parts { hash = ValidationPromptText.mix(hash, UInt64(truncatingIfNeeded: part)) }
        return hash
    }

    public func generate(_ workload: ValidationWorkload, firstID: Int = 0) -> [ValidationRequest] {
        var rng = SeededGenerator(seed: seed ^ (UInt64(ValidationWorkload.allCases.firstIndex(of: workload) ?? 0) &+ 1) &* 0x9E37_79B9)
        func tokens(_ low: Int, _ high: Int) -> Int {
            let span = UInt64(max(0, high - low) + 1)
            let value = low + Int(rng.next() % span)
            return max(1, Int((Double(value) * shape.tokenScale).rounded()))
        }
        var requests: [ValidationRequest] = []
        var id = firstID
        switch workload {
        case .chatReuse:
            let system = PromptSegment(key: Self.key(workload, 0), tokens: tokens(160, 160))
            for conversation in 0..<shape.conversations {
                var history = [system]
                for turn in 0..<shape.turns {
                    let user = PromptSegment(key: Self.key(workload, 1, conversation, turn), tokens: tokens(24, 48))
                    let output = tokens(32, 48)
                    requests.append(
                        ValidationRequest(
                            id: id, workload: workload.rawValue, conversation: conversation, segments: history + [user],
                            outputTokens: output,
                            taskClass: .chat))
                    id += 1
                    // The next turn resends this one and an answer of the length generated.
                    history += [user, PromptSegment(key: Self.key(workload, 2, conversation, turn), tokens: output)]
                }
            }
        case .documentPrefill:
            for document in 0..<shape.conversations {
                let text = PromptSegment(key: Self.key(workload, 0, document), tokens: tokens(600, 800))
                for question in 0..<shape.turns {
                    let ask = PromptSegment(key: Self.key(workload, 1, document, question), tokens: tokens(16, 32))
                    requests.append(
                        ValidationRequest(
                            id: id, workload: workload.rawValue, conversation: document, segments: [text, ask],
                            outputTokens: tokens(16, 24),
                            taskClass: .document))
                    id += 1
                }
            }
        case .codeDecode:
            for task in 0..<(shape.conversations * 2) {
                let prompt = PromptSegment(key: Self.key(workload, 0, task), tokens: tokens(40, 64))
                requests.append(
                    ValidationRequest(
                        id: id, workload: workload.rawValue, conversation: task, segments: [prompt], outputTokens: tokens(128, 160),
                        taskClass: .code))
                id += 1
            }
        }
        return requests
    }

    /// A trace's requests as a validation workload: requests of one session form a conversation (in trace order),
    /// Mooncake block hashes become shared 512-token segments, and lengths are clamped to what the engine takes.
    public static func fromTrace(_ trace: Trace, limit: Int, maxPromptTokens: Int, maxOutputTokens: Int, firstID: Int = 0)
        -> [ValidationRequest]
    {
        var requests: [ValidationRequest] = []
        var conversationOfSession: [UInt64: Int] = [:]
        for (index, request) in trace.requests.prefix(max(0, limit)).enumerated() {
            let prompt = max(1, min(request.promptTokens, maxPromptTokens))
            var segments: [PromptSegment] = []
            var covered = 0
            for hash in request.prefixHashes where covered < prompt {
                let take = min(NodeProfile.blockTokens, prompt - covered)
                segments.append(PromptSegment(key: hash, tokens: take))
                covered += take
            }
            if covered < prompt {
                segments.append(PromptSegment(key: ValidationPromptText.mix(0x7472_6163_65, UInt64(index)), tokens: prompt - covered))
            }
            var conversation = index
            if let session = request.sessionKey {
                if let known = conversationOfSession[session] {
                    conversation = known
                } else {
                    conversationOfSession[session] = index
                }
            }
            requests.append(
                ValidationRequest(
                    id: firstID + index, workload: "trace", conversation: conversation, segments: segments,
                    outputTokens: max(1, min(request.outputTokens, maxOutputTokens)), taskClass: request.declaredClass ?? .chat))
        }
        return requests
    }
}
