import Foundation
public import HearthCore
public import HearthProtocol
public import NIOCore
import NIOFoundationCompat
import Synchronization

/// A simulated engine: no model, no GPU. It answers OpenAI requests with deterministic text and
/// paces tokens by ``SimulatedEngineModel`` (the same timings the scheduler predicts and the
/// simulator uses), on a clock the caller supplies. For tests of scale and benchmarks, never for
/// real answers: the text it returns says so.
public final class SimulatedEngine<C: Clock>: Engine where C.Duration == Duration {
    public let kind = "sim"
    public let slots: Int
    private let modelName: String
    private let timing: SimulatedEngineModel?
    private let clock: C
    private let active = Mutex(0)

    /// - Parameter timing: token timings; `nil` answers at once (a "fast" engine for gateway benchmarks).
    public init(modelName: String, slots: Int, timing: SimulatedEngineModel?, clock: C) {
        self.modelName = modelName
        self.slots = slots
        self.timing = timing
        self.clock = clock
    }

    public func models() async throws -> [ServedModel] {
        [ServedModel(id: modelName, contextTokens: 32_768)]
    }

    public func isHealthy() async -> Bool { true }

    /// The simulated engine's timings are known: no need to measure them.
    public func calibrate(_ model: ServedModel) async -> NodeProfile? {
        timing?.profile ?? Self.instantProfile(model: model.id, slots: slots)
    }

    /// A profile for an engine that answers at once: a fast benchmark backend.
    static func instantProfile(model: String, slots: Int) -> NodeProfile {
        NodeProfile(
            model: model, prefillTokensPerSecond: 1e9, prefillOverheadSeconds: 0, decodeBaseSeconds: 1e-6,
            decodePerSequenceSeconds: 0, maxBatch: slots, prefixCacheBlocks: 0, linkRTTSeconds: 0)
    }

    /// How many `simK` words the request's prefix already holds (0 for a fresh request).
    static func continuedWords(_ fields: [String: Any], chat: Bool) -> Int {
        let prefix: String
        if chat {
            guard let messages = fields["messages"] as? [[String: Any]], let last = messages.last, last["role"] as? String == "assistant",
                let content = last["content"] as? String
            else { return 0 }
            prefix = content
        } else {
            prefix = fields["prompt"] as? String ?? ""
        }
        var count = 0
        for word in prefix.split(separator: " ").reversed() {
            guard word.hasPrefix("sim"), Int(word.dropFirst(3)) != nil else { break }
            count += 1
        }
        return count
    }

    public func run(
        _ request: EngineRequest,
        onHead: (StreamHead) async throws -> Void,
        onData: (ByteBuffer) async throws -> Void
    ) async throws {
        let fields = (try? JSONSerialization.jsonObject(with: Data(buffer: request.body)) as? [String: Any]) ?? [:]
        let maxTokens = (fields["max_tokens"] as? Int) ?? (fields["max_completion_tokens"] as? Int) ?? 16
        let promptTokens = max(1, request.body.readableBytes / 4)
        let includeUsage = ((fields["stream_options"] as? [String: Any])?["include_usage"] as? Bool) ?? false
        let chat = request.path.hasSuffix("/chat/completions")
        let batch = active.withLock { active in
            active += 1
            return active
        }
        defer { active.withLock { $0 -= 1 } }

        if let timing {
            try await clock.sleep(for: .seconds(timing.prefillSeconds(promptTokens: promptTokens, cachedTokens: 0)))
        }
        // A resumed request (an assistant prefix to continue, or a completion prompt ending in simK words) goes on
        // counting where the prefix stopped, as a real engine continues its own text; failover tests rely on it.
        let start = Self.continuedWords(fields, chat: chat)
        let words = (start..<(start + maxTokens)).map { "sim\($0) " }
        let step: Duration? = timing.map { .seconds($0.interTokenSeconds(batchSize: min(batch, slots))) }

        guard request.stream else {
            for _ in words.dropFirst() { if let step { try await clock.sleep(for: step) } }
            let text = words.joined()
            let choice: [String: Any] =
                chat
                ? ["index": 0, "message": ["role": "assistant", "content": text], "finish_reason": "length"]
                : ["index": 0, "text": text, "finish_reason": "length"]
            let body: [String: Any] = [
                "id": "sim-1", "object": chat ? "chat.completion" : "text_completion", "created": 0, "model": modelName,
                "choices": [choice],
                "usage": ["prompt_tokens": promptTokens, "completion_tokens": maxTokens, "total_tokens": promptTokens + maxTokens],
            ]
            try await onHead(StreamHead(status: 200, contentType: "application/json"))
            try await onData(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
            return
        }

        try await onHead(StreamHead(status: 200, contentType: "text/event-stream"))
        for (index, word) in words.enumerated() {
            if index > 0, let step { try await clock.sleep(for: step) }
            let last = index == words.count - 1
            let choice: [String: Any] =
                chat
                ? ["index": 0, "delta": ["content": word], "finish_reason": last ? "length" : NSNull()]
                : ["index": 0, "text": word, "finish_reason": last ? "length" : NSNull()]
            try await onData(
                Self.event([
                    "id": "sim-1", "object": chat ? "chat.completion.chunk" : "text_completion", "model": modelName, "choices": [choice],
                ]))
        }
        if includeUsage {
            try await onData(
                Self.event([
                    "id": "sim-1", "object": "chat.completion.chunk", "model": modelName, "choices": [],
                    "usage": ["prompt_tokens": promptTokens, "completion_tokens": maxTokens, "total_tokens": promptTokens + maxTokens],
                ])
            )
        }
        try await onData(ByteBuffer(string: "data: [DONE]\n\n"))
    }

    private static func event(_ object: [String: Any]) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
        buffer.writeString("\n\n")
        return buffer
    }
}
