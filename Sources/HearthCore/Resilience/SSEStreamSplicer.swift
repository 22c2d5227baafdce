import Foundation

/// Joins the server-sent-event streams of several attempts at one request into the single, well-formed
/// OpenAI stream the client sees: no duplicated or missing text, one role chunk, one id, one `[DONE]`, and a
/// usage chunk that counts what the client received. Pure byte-level logic: the gateway feeds it the bytes each
/// attempt produces and writes what it returns.
///
/// - Only whole events are forwarded (an event is complete at its blank line), so a node that dies mid-event
///   never leaves a torn event in the client's stream.
/// - Attempt 1's events pass through byte for byte (except usage objects, which lose
///   `prompt_tokens_details`: cached-token counts are never returned to clients).
/// - Later attempts are rewritten: `id`, `created` and `model` become those the client already saw; a role
///   that was already delivered is removed (a role-only chunk is dropped); the usage chunk's counts become the
///   client-facing totals (see ``usage``).
/// - Error events (`{"error": …}`) are never forwarded: ``attemptError`` is set and the gateway decides
///   (``StreamMigration``), then writes one error event itself if it gives up.
/// - `[DONE]` is forwarded once; ``finish()`` adds it if the last attempt ended without it.
/// - A tool call is forwarded whole: its events, from the chunk that starts it to the one with the finish reason, go
///   out together (``SSEEventScanner`` does the same for the first attempt). An attempt lost mid-call leaves the client
///   nothing of the call, and the next attempt makes it again whole: arguments cannot be continued from a prefix.
///
/// Resumed attempts are expected to return only the new text (vLLM `continue_final_message`, llama.cpp's
/// assistant prefill, `/v1/completions` with the prefix appended to the prompt): see ``ContinuationBody``.
public struct SSEStreamSplicer: Sendable {
    public enum Endpoint: Sendable, Hashable {
        /// `/v1/chat/completions`: text in `choices[0].delta.content`.
        case chatCompletions
        /// `/v1/completions`: text in `choices[0].text`.
        case completions
    }

    /// One attempt's token accounting.
    public struct AttemptUsage: Sendable, Hashable {
        public var promptTokens: Int
        public var completionTokens: Int
        /// True when the engine reported the counts; false when estimated (prompt from the request, completion
        /// as one token per content chunk).
        public var reportedByEngine: Bool
    }

    /// Token counts: what the client is billed for (``clientPromptTokens``/``clientCompletionTokens``) and what
    /// the fleet actually computed (``attempts``, for the ledger's energy and failover accounting).
    public struct Usage: Sendable, Hashable {
        public var clientPromptTokens: Int
        public var clientCompletionTokens: Int
        public var attempts: [AttemptUsage]
        public var computedPromptTokens: Int { attempts.reduce(0) { $0 + $1.promptTokens } }
        public var computedCompletionTokens: Int { attempts.reduce(0) { $0 + $1.completionTokens } }
        public var reportedByEngine: Bool { attempts.last?.reportedByEngine ?? false }
    }

    public let endpoint: Endpoint
    public let originalPromptTokens: Int
    /// 0 for the first attempt.
    public private(set) var attemptIndex = 0
    public private(set) var deliveredText = ""
    /// Most text ``deliveredText`` keeps; past it ``replayLost`` is set and the answer can no longer be resumed.
    public let maximumReplayBytes: Int
    /// More text was delivered than ``maximumReplayBytes``: a resumed attempt could not be given the prefix.
    public private(set) var replayLost = false
    /// Bytes of the current partial event (the gateway fails a node whose events grow past its limit).
    public var pendingBytes: Int { pending.count }
    /// Bytes of ``pending`` already searched for an event's end (each byte is looked at once), and the newlines at
    /// the end of them.
    private var searched = 0
    private var newlinesSearched = 0
    public private(set) var roleDelivered = false
    public private(set) var finishReason: String?
    public private(set) var doneDelivered = false
    /// The last error event of the current attempt (raw JSON), if any.
    public private(set) var attemptError: String?
    private var responseID: String?
    private var created: Int?
    private var model: String?
    private var pending: [UInt8] = []
    /// Completion tokens delivered by finished (abandoned) attempts.
    private var previousCompletionTokens = 0
    private var attemptChunks = 0
    private var attemptReported: (prompt: Int, completion: Int)?
    private var finishedAttempts: [AttemptUsage] = []
    /// The current attempt's tool-call events, held until the call is finished.
    private var heldToolCall: [UInt8] = []
    private var holdingToolCall = false

    public init(endpoint: Endpoint, originalPromptTokens: Int, maximumReplayBytes: Int = 4 << 20) {
        self.endpoint = endpoint
        self.originalPromptTokens = originalPromptTokens
        self.maximumReplayBytes = maximumReplayBytes
    }

    /// What the client has received so far, for ``StreamMigration/attemptFailed(_:delivered:now:budget:)``.
    public var delivered: StreamMigration.Delivered {
        StreamMigration.Delivered(text: deliveredText, completionTokens: deliveredCompletionTokens, finished: finishReason != nil)
    }

    private var deliveredCompletionTokens: Int { previousCompletionTokens + (attemptReported?.completion ?? attemptChunks) }

    public var usage: Usage {
        let current = AttemptUsage(
            promptTokens: attemptReported?.prompt ?? (originalPromptTokens + previousCompletionTokens),
            completionTokens: attemptReported?.completion ?? attemptChunks,
            reportedByEngine: attemptReported != nil)
        return Usage(
            clientPromptTokens: originalPromptTokens, clientCompletionTokens: deliveredCompletionTokens,
            attempts: finishedAttempts + [current])
    }

    /// Takes bytes from the current attempt; returns the bytes to write to the client (possibly empty).
    public mutating func ingest(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        pending.append(contentsOf: bytes)
        var out: [UInt8] = []
        while let end = nextEventEnd() {
            let event = Array(pending[..<end])
            pending.removeFirst(end)
            searched = 0
            out += process(event)
        }
        return out
    }

    /// The current attempt failed: forget its partial event and start accounting for the next attempt.
    public mutating func startNextAttempt() {
        pending.removeAll()
        searched = 0
        newlinesSearched = 0
        finishedAttempts.append(usage.attempts.last!)
        previousCompletionTokens = deliveredCompletionTokens
        attemptChunks = 0
        attemptReported = nil
        attemptError = nil
        heldToolCall = []
        holdingToolCall = false
        attemptIndex += 1
    }

    /// The text delivered before the splicer took over was not all kept: the answer cannot be resumed.
    public mutating func loseReplay() { replayLost = true }

    /// The last attempt ended: flushes nothing partial, and returns `data: [DONE]` if it was not delivered.
    public mutating func finish() -> [UInt8] {
        pending.removeAll()
        searched = 0
        newlinesSearched = 0
        // The attempt ended well without a finish reason: a call it held is all the client will get.
        let held = heldToolCall
        heldToolCall = []
        holdingToolCall = false
        guard !doneDelivered else { return held }
        doneDelivered = true
        return held + Array("data: [DONE]\n\n".utf8)
    }

    // MARK: events

    /// The bytes of `event` to write now: held back while a tool call is unfinished (see the type's documentation).
    private mutating func process(_ event: [UInt8]) -> [UInt8] {
        let out = rewrite(event)
        guard endpoint == .chatCompletions else { return out }
        let (startsCall, endsAnswer) = event.withUnsafeBytes {
            (SSEEventScanner.hasNonEmptyArray($0, pattern: SSEEventScanner.toolCallsPattern), SSEEventScanner.endsAnswer($0))
        }
        if startsCall { holdingToolCall = true }
        guard holdingToolCall else { return out }
        heldToolCall += out
        guard endsAnswer || heldToolCall.count > maximumReplayBytes else { return [] }
        // Finished, or too long to hold: it goes out (in the second case unfinished, so the answer can no longer move).
        if !endsAnswer { replayLost = true }
        holdingToolCall = false
        defer { heldToolCall = [] }
        return heldToolCall
    }

    private mutating func rewrite(_ event: [UInt8]) -> [UInt8] {
        guard let data = Self.data(of: event) else { return event }  // comments, keep-alives
        if data == "[DONE]" {
            guard !doneDelivered else { return [] }
            doneDelivered = true
            return attemptIndex == 0 ? event : Array("data: [DONE]\n\n".utf8)
        }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] else { return event }
        if object["error"] != nil && object["choices"] == nil {
            attemptError = data
            return []
        }
        var rewrite = attemptIndex > 0
        if responseID == nil {
            responseID = object["id"] as? String
            created = object["created"] as? Int
            model = object["model"] as? String
        } else if attemptIndex > 0 {
            if let responseID { object["id"] = responseID }
            if let created { object["created"] = created }
            if let model { object["model"] = model }
        }
        if var usage = object["usage"] as? [String: Any] {
            // A node's counts: claims, kept within what can be added up (the gateway bills them through AnswerAudit).
            let counts = 0...AnswerAudit.countCeiling
            let prompt = AnswerAudit.clamp(usage["prompt_tokens"] as? Int ?? originalPromptTokens + previousCompletionTokens, counts)
            let completion = AnswerAudit.clamp(usage["completion_tokens"] as? Int ?? attemptChunks, counts)
            attemptReported = (prompt, completion)
            if usage["prompt_tokens_details"] != nil {
                usage["prompt_tokens_details"] = nil
                rewrite = true
            }
            if attemptIndex > 0 {
                usage["prompt_tokens"] = originalPromptTokens
                usage["completion_tokens"] = deliveredCompletionTokens
                usage["total_tokens"] = originalPromptTokens + deliveredCompletionTokens
            }
            object["usage"] = usage
        }
        var keep = true
        if var choices = object["choices"] as? [[String: Any]], !choices.isEmpty {
            var choice = choices[0]
            var text: String?
            var roleOnly = false
            switch endpoint {
            case .chatCompletions:
                if var delta = choice["delta"] as? [String: Any] {
                    if delta["role"] != nil {
                        if roleDelivered && attemptIndex > 0 {
                            delta["role"] = nil
                            rewrite = true
                        }
                        roleDelivered = true
                    }
                    text = delta["content"] as? String
                    let meaningful = delta.keys.contains { $0 != "content" } || !(text ?? "").isEmpty
                    roleOnly = !meaningful
                    choice["delta"] = delta
                }
            case .completions:
                text = choice["text"] as? String
                roleOnly = (text ?? "").isEmpty
            }
            let finish = choice["finish_reason"] as? String
            if let text, !text.isEmpty {
                if !replayLost, deliveredText.utf8.count + text.utf8.count <= maximumReplayBytes {
                    deliveredText += text
                } else {
                    replayLost = true
                }
                attemptChunks += 1
            }
            if let finish { finishReason = finish }
            if attemptIndex > 0 && roleOnly && finish == nil && object["usage"] == nil && choice["logprobs"] == nil {
                keep = false
            }
            choices[0] = choice
            object["choices"] = choices
        }
        guard keep else { return [] }
        guard rewrite, let json = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else {
            return event
        }
        return Array("data: ".utf8) + Array(json) + Array("\n\n".utf8)
    }

    /// The joined `data:` fields of an event, or nil when it has none.
    private static func data(of event: [UInt8]) -> String? {
        let text = String(decoding: event, as: UTF8.self)
        var parts: [Substring] = []
        for var line in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if line.hasSuffix("\r") { line = line.dropLast() }
            guard line.hasPrefix("data:") else { continue }
            var value = line.dropFirst(5)
            if value.first == " " { value = value.dropFirst() }
            parts.append(value)
        }
        return parts.isEmpty ? nil : parts.joined(separator: "\n")
    }

    /// Index just past the blank line that ends the first event in ``pending`` (`\n\n` or `\r\n\r\n`, as the node's
    /// meter finds it), searching on from where the last call stopped.
    private mutating func nextEventEnd() -> Int? {
        while searched < pending.count {
            let byte = pending[searched]
            searched += 1
            switch byte {
            case UInt8(ascii: "\n"):
                newlinesSearched += 1
                if newlinesSearched == 2 {
                    newlinesSearched = 0
                    return searched
                }
            case UInt8(ascii: "\r"):
                break
            default:
                newlinesSearched = 0
            }
        }
        return nil
    }
}
