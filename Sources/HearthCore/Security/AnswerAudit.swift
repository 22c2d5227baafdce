/// What a node may claim about one answer, judged against what the gateway itself sent and relayed.
///
/// A node stands in somebody's home; its reports are claims. The gateway bills and limits tenants by a node's
/// token counts only where they lie inside bounds it can prove from its own view of the request:
/// - prompt tokens: at least 1 (the prompt is never empty) and at most ``promptTokenCeiling``: every token of the
///   rendered prompt covers at least one byte of the request body, or comes from the chat template, which adds a
///   bounded number (``templateTokensFixed``);
/// - completion tokens: at least the content-bearing events the gateway relayed (an engine never streams a
///   content delta without decoding a token) and at most ``completionTokenCeiling``, the `max_tokens` the
///   gateway let through (or the model's context when the client gave none).
/// A claim outside its bounds is never billed: the bill uses the gateway's own figure within them. Only a claim no
/// honest engine makes (beyond ``lieSlack``: negative, more than twice a bound and a few tokens, or less than half of
/// what was relayed) is a lie that costs the node standing (``NodeConduct``); an engine that counts an end-of-sequence
/// token more, or a scripted engine that ignores `max_tokens`, is corrected, not punished.
public struct AnswerAudit: Sendable, Equatable {
    public var promptTokenCeiling: Int
    public var completionTokenCeiling: Int

    /// Tokens a chat template may add beyond the body's own bytes (a default system preamble, a generation
    /// prompt): generous against the templates of llama.cpp, vLLM and SGLang.
    public static let templateTokensFixed = 1024
    /// The largest count the gateway ever bills or adds up: far above any real answer, far below overflow.
    public static let countCeiling = 1 << 40
    /// Tokens a claim may stray past a bound (on top of a factor of two) before it counts as a lie.
    public static let lieSlack = 8

    public init(promptTokenCeiling: Int, completionTokenCeiling: Int) {
        self.promptTokenCeiling = Self.clamp(promptTokenCeiling, 1...Self.countCeiling)
        self.completionTokenCeiling = Self.clamp(completionTokenCeiling, 0...Self.countCeiling)
    }

    /// Bounds for a request whose body has `requestBytes` bytes. A message costs at least 28 bytes of JSON
    /// (`{"role":"user","content":""}`), more than any template adds around it, so the body's own bytes cover
    /// the per-message markers and only ``templateTokensFixed`` is added.
    public init(requestBytes: Int, maxOutputTokens: Int) {
        self.init(
            promptTokenCeiling: Self.clamp(requestBytes, 0...Self.countCeiling) + Self.templateTokensFixed,
            completionTokenCeiling: maxOutputTokens)
    }

    /// What the gateway counted itself while relaying an answer.
    public struct Relayed: Sendable, Equatable {
        /// Events carrying answer text (a non-empty `content` or `text`), each at least one decoded token.
        public var contentEvents: Int

        public init(contentEvents: Int = 0) { self.contentEvents = contentEvents }
    }

    /// A count a node claimed that the gateway can prove false.
    public enum Lie: String, Sendable, Hashable, CaseIterable {
        case negativeTokens = "negative-token-count"
        case promptTokensOverCeiling = "prompt-tokens-over-ceiling"
        case completionTokensOverMaximum = "completion-tokens-over-max-tokens"
        case completionTokensUnderRelayed = "completion-tokens-under-relayed"
        case unrelayableHead = "unrelayable-head"
        case oversizedEvent = "oversized-event"
        /// Energy intervals no meter produces: out of order or overlapping what the node already reported.
        case forgedEnergy = "forged-energy"
    }

    /// The tokens a tenant is billed for and limited by, and the lies the claim held.
    public struct Bill: Sendable, Equatable {
        public var promptTokens: Int
        public var completionTokens: Int
        public var lies: [Lie]

        public init(promptTokens: Int, completionTokens: Int, lies: [Lie]) {
            self.promptTokens = promptTokens
            self.completionTokens = completionTokens
            self.lies = lies
        }

        public var totalTokens: Int { promptTokens + completionTokens }
    }

    /// Bills a node's claim (nil: it reported none) against the bounds and what was relayed. Without a claim the
    /// gateway's own figures are billed: `estimatedPromptTokens` and the relayed content events.
    public func bill(claimedPrompt: Int?, claimedCompletion: Int?, relayed: Relayed, estimatedPromptTokens: Int) -> Bill {
        var lies: [Lie] = []
        if (claimedPrompt ?? 0) < 0 || (claimedCompletion ?? 0) < 0 { lies.append(.negativeTokens) }
        if let claimedPrompt, Self.isFlagrantlyOver(claimedPrompt, promptTokenCeiling) { lies.append(.promptTokensOverCeiling) }
        // A claim inside the bounds is the engine's exact count; anything else falls back to the gateway's estimate.
        let prompt =
            if let claimedPrompt, (1...promptTokenCeiling).contains(claimedPrompt) {
                claimedPrompt
            } else {
                Self.clamp(estimatedPromptTokens, 1...promptTokenCeiling)
            }
        let floor = min(Self.clamp(relayed.contentEvents, 0...Self.countCeiling), completionTokenCeiling)
        let completion = Self.clamp(claimedCompletion ?? floor, floor...completionTokenCeiling)
        if let claimedCompletion {
            if Self.isFlagrantlyOver(claimedCompletion, completionTokenCeiling) { lies.append(.completionTokensOverMaximum) }
            if claimedCompletion >= 0, claimedCompletion < floor / 2, floor - claimedCompletion > Self.lieSlack {
                lies.append(.completionTokensUnderRelayed)
            }
        }
        return Bill(promptTokens: prompt, completionTokens: completion, lies: lies)
    }

    /// More than twice `bound` and ``lieSlack`` tokens (overflow-safe).
    static func isFlagrantlyOver(_ claim: Int, _ bound: Int) -> Bool {
        let (doubled, overflow) = bound.multipliedReportingOverflow(by: 2)
        return !overflow && claim > doubled + lieSlack
    }

    /// Whether the gateway relays a response head with this status: a final status with a body (2xx but 204 and
    /// 205, and 4xx/5xx). Informational and redirect statuses, and anything outside 100...599, are lies.
    public static func isRelayableStatus(_ status: Int) -> Bool {
        switch status {
        case 200...299: status != 204 && status != 205
        case 400...599: true
        default: false
        }
    }

    /// Whether a head may carry `contentType`: short and printable (it goes into the client's response head), and
    /// for a success, JSON or an event stream (with parameters), what every engine answers a completion with. An
    /// engine's error page may be anything printable.
    public static func isRelayableContentType(_ contentType: String, status: Int) -> Bool {
        let bytes = contentType.utf8
        guard bytes.count <= 128, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return false }
        guard status < 300 else { return true }
        let media = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingSpaces.lowercased() } ?? ""
        return media == "application/json" || media == "text/event-stream"
    }

    /// `value` within `range`.
    public static func clamp(_ value: Int, _ range: ClosedRange<Int>) -> Int { min(max(value, range.lowerBound), range.upperBound) }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}
