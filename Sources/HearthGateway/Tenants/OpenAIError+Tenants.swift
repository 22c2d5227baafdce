import HearthCore

extension OpenAIError {
    /// 429 for a tenant's own limit (OpenAI's `rate_limit_exceeded`), with `Retry-After`.
    static func rateLimited(_ message: String, retryAfterSeconds: Int) -> OpenAIError {
        OpenAIError(
            status: .tooManyRequests, message: message, type: "rate_limit_error", code: "rate_limit_exceeded",
            retryAfterSeconds: retryAfterSeconds)
    }

    /// 503 when no connected node meets the request's data class (``DataClassFilter/refusalMessage``).
    static func dataClassUnavailable(_ dataClass: DataClass) -> OpenAIError {
        OpenAIError(
            status: .serviceUnavailable, message: DataClassFilter(dataClass: dataClass).refusalMessage, type: "service_unavailable",
            code: "data_class_unavailable", retryAfterSeconds: 30)
    }
}
