/// The request a gateway hands a node on a new stream (the header part of an `open` frame).
public struct StreamOpen: Codable, Sendable, Equatable {
    /// Engine path, e.g. `/v1/chat/completions`.
    public var path: String
    /// Whether the client asked for a server-sent-event stream.
    public var stream: Bool
    /// Whether the client asked for the usage chunk (`stream_options.include_usage`); the node
    /// always asks its engine for usage and drops the chunk when the client did not ask.
    public var clientWantsUsageChunk: Bool
    /// The gateway's request id, for the node's logs.
    public var requestID: String
    /// How the node must control its engine's prompt cache for this request (``CacheControlMode`` raw value):
    /// the gateway chooses it from the tenant's data class and the node's engine kind. Absent (an older
    /// gateway): the engine's default. A value this node does not know is treated as `disable-prompt-cache`.
    public var cacheControl: String?
    /// The engine cache salt the gateway derived for this request's cache partition (an HMAC the node
    /// cannot forge for another partition); set on the engine request, overwriting the client's.
    public var cacheSalt: String?

    public init(
        path: String, stream: Bool, clientWantsUsageChunk: Bool, requestID: String, cacheControl: CacheControlMode? = nil,
        cacheSalt: String? = nil
    ) {
        self.path = path
        self.stream = stream
        self.clientWantsUsageChunk = clientWantsUsageChunk
        self.requestID = requestID
        self.cacheControl = cacheControl?.rawValue
        self.cacheSalt = cacheSalt
    }

    /// ``cacheControl`` as a mode: nil when absent, `disablePromptCache` when unknown (fail closed).
    public var cacheControlMode: CacheControlMode? {
        cacheControl.map { CacheControlMode(rawValue: $0) ?? .disablePromptCache }
    }

    private enum CodingKeys: String, CodingKey {
        case path, stream
        case clientWantsUsageChunk = "client_wants_usage_chunk"
        case requestID = "request_id"
        case cacheControl = "cache_control"
        case cacheSalt = "cache_salt"
    }
}

/// What the node does to the engine request's prompt cache (the wire form of HearthCore's
/// `CacheIsolation.EngineCacheControl`).
public enum CacheControlMode: String, Sendable, Codable, CaseIterable {
    /// Set `cache_salt` to ``StreamOpen/cacheSalt`` (vLLM; SGLang where supported).
    case salt
    /// `"cache_prompt": false` (llama.cpp's server, which has no salt).
    case disablePromptCache = "disable-prompt-cache"
    /// Leave the engine's caching alone.
    case engineDefault = "engine-default"
}

/// The engine's response status, sent before any data.
public struct StreamHead: Codable, Sendable, Equatable {
    public var status: Int
    public var contentType: String

    public init(status: Int, contentType: String) {
        self.status = status
        self.contentType = contentType
    }

    private enum CodingKeys: String, CodingKey {
        case status
        case contentType = "content_type"
    }
}

/// Token counts for one request.
public struct TokenUsage: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// True when the engine reported the counts; false when the node estimated them.
    public var reportedByEngine: Bool
    /// Prompt tokens the engine served from its prompt cache (`usage.prompt_tokens_details.cached_tokens`), when it
    /// says. For the operator's record and metrics only: the node strips it from what the client sees.
    public var cachedPromptTokens: Int?

    public init(promptTokens: Int, completionTokens: Int, reportedByEngine: Bool, cachedPromptTokens: Int? = nil) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.reportedByEngine = reportedByEngine
        self.cachedPromptTokens = cachedPromptTokens
    }

    private enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case reportedByEngine = "reported_by_engine"
        case cachedPromptTokens = "cached_prompt_tokens"
    }
}

/// The last frame of a stream: what it cost, or why it failed.
public struct StreamEnd: Codable, Sendable, Equatable {
    public var usage: TokenUsage?
    /// Milliseconds from the node receiving the stream to the engine's first token.
    public var engineTimeToFirstTokenMilliseconds: Double?
    public var error: TunnelErrorMessage?

    public init(usage: TokenUsage?, engineTimeToFirstTokenMilliseconds: Double?, error: TunnelErrorMessage?) {
        self.usage = usage
        self.engineTimeToFirstTokenMilliseconds = engineTimeToFirstTokenMilliseconds
        self.error = error
    }

    private enum CodingKeys: String, CodingKey {
        case usage
        case engineTimeToFirstTokenMilliseconds = "engine_ttft_ms"
        case error
    }
}
