import Hummingbird

/// Makes every failure an OpenAI-style error body: unknown paths and methods (Hummingbird's own 404/405),
/// malformed requests it rejects itself, and any unexpected error (a 500 that names no internals, so no detail
/// of another request can surface in it).
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as OpenAIError {
            throw error
        } catch let error as HTTPError {
            let message: String =
                switch error.status {
                case .notFound: "Unknown request path or method: this gateway serves /v1/chat/completions, /v1/completions and /v1/models."
                case .methodNotAllowed: "This method is not allowed on this path."
                case .contentTooLarge: "The request body is too large."
                default: "The request could not be served (\(error.status.code))."
                }
            throw OpenAIError(
                status: error.status, message: message, type: error.status.code < 500 ? "invalid_request_error" : "api_error",
                code: error.status == .notFound ? "unknown_url" : nil)
        } catch {
            throw OpenAIError(status: .internalServerError, message: "Internal error.", type: "api_error", code: "internal_error")
        }
    }
}
