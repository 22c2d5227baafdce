public import Foundation
public import HTTPTypes
public import Hummingbird

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with an HTTP status.
///
/// The gateway maps every failure to one of these at its edge, so any OpenAI SDK reports it sensibly.
public struct OpenAIError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds a client should wait before retrying (429/503), sent as `Retry-After`.
    public var retryAfterSeconds: Int?
    /// The request's id, sent as `X-Request-Id` (errors carry it too, so a failure can be found in the ledger).
    public var requestID: String?
    /// More headers to send (a 429's rate-limit headers).
    public var extraHeaders: [HTTPField] = []

    public init(
        status: HTTPResponse.Status,
        message: String,
        type: String,
        param: String? = nil,
        code: String? = nil,
        retryAfterSeconds: Int? = nil
    ) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(status.code) \(type): \(message)" }

    /// The JSON body, as bytes.
    public var jsonBody: Data {
        var error: [String: Any] = ["message": message, "type": type]
        error["param"] = param ?? NSNull()
        error["code"] = code ?? NSNull()
        return (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys])) ?? Data()
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if let requestID { headers[.hearthRequestID] = requestID }
        headers.append(contentsOf: extraHeaders)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: jsonBody)))
    }
}

extension OpenAIError {
    static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> OpenAIError {
        OpenAIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    static func unauthorized(_ message: String) -> OpenAIError {
        OpenAIError(status: .unauthorized, message: message, type: "invalid_request_error", code: "invalid_api_key")
    }

    static func modelNotFound(_ model: String) -> OpenAIError {
        OpenAIError(
            status: .notFound,
            message: "The model '\(model.prefix(256))' is not served by any node of this fleet.",
            type: "invalid_request_error",
            param: "model",
            code: "model_not_found"
        )
    }

    static func bodyTooLarge(limit: Int) -> OpenAIError {
        OpenAIError(
            status: .contentTooLarge,
            message: "The request body exceeds the limit of \(limit) bytes.",
            type: "invalid_request_error",
            code: "request_too_large"
        )
    }

    static func noCapacity(_ message: String, retryAfterSeconds: Int, overloaded: Bool) -> OpenAIError {
        OpenAIError(
            status: overloaded ? .tooManyRequests : .serviceUnavailable,
            message: message,
            type: overloaded ? "rate_limit_error" : "service_unavailable",
            code: overloaded ? "fleet_saturated" : "no_node_available",
            retryAfterSeconds: retryAfterSeconds
        )
    }

    /// This replica is shutting down: the client (or the load balancer) should send the request to another one.
    static let draining = OpenAIError(
        status: .serviceUnavailable, message: "This gateway is shutting down; retry the request (another replica takes it).",
        type: "service_unavailable", code: "gateway_draining", retryAfterSeconds: 1)

    static func nodeFailed(_ message: String) -> OpenAIError {
        OpenAIError(status: .badGateway, message: message, type: "api_error", code: "node_failed")
    }

    static func nodeTimeout(_ message: String) -> OpenAIError {
        OpenAIError(status: .gatewayTimeout, message: message, type: "api_error", code: "node_timeout")
    }
}
