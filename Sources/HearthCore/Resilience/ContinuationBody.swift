import Foundation

/// Rewrites an OpenAI request body so that an engine continues an answer from where the client's stream
/// stopped: the original request plus the delivered text as the new prefix, with the output budget reduced.
///
/// - Chat: appends `{"role": "assistant", "content": delivered}` and sets `continue_final_message: true`,
///   `add_generation_prompt: false` (vLLM and SGLang continue the final assistant message; llama.cpp's server
///   treats a final assistant message as a prefill and ignores the two flags).
/// - Completions: appends the delivered text to a string `prompt`.
/// - `max_tokens` / `max_completion_tokens`, when present, become `remainingMaxTokens`.
/// Requests that cannot be continued this way (`n` > 1, a token-array or multi-prompt `prompt`, a structured output
/// already begun) are ``Failure/notContinuable``: retry them from scratch only if nothing was delivered, else give up.
public enum ContinuationBody {
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case notJSONObject
        case notContinuable(String)

        public var description: String {
            switch self {
            case .notJSONObject: "the request body is not a JSON object"
            case .notContinuable(let why): "the answer cannot be continued on another node: \(why)"
            }
        }
    }

    public static func rewrite(
        _ body: [UInt8], endpoint: SSEStreamSplicer.Endpoint, delivered: String, remainingMaxTokens: Int
    ) throws(Failure) -> [UInt8] {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else { throw .notJSONObject }
        if let n = object["n"] as? Int, n > 1 { throw .notContinuable("n > 1") }
        for key in ["max_tokens", "max_completion_tokens"] where object[key] != nil {
            object[key] = remainingMaxTokens
        }
        if !delivered.isEmpty {
            // Engines apply a schema or grammar to what they generate, not to an assistant prefix: a continued JSON
            // answer would start a second object inside the first.
            if let format = object["response_format"] as? [String: Any], let type = format["type"] as? String, type != "text" {
                throw .notContinuable("a structured output (response_format \(type)) cannot resume from a prefix")
            }
            switch endpoint {
            case .chatCompletions:
                guard var messages = object["messages"] as? [Any] else { throw .notContinuable("no messages") }
                messages.append(["role": "assistant", "content": delivered])
                object["messages"] = messages
                object["continue_final_message"] = true
                object["add_generation_prompt"] = false
            case .completions:
                guard let prompt = object["prompt"] as? String else { throw .notContinuable("prompt is not a single string") }
                object["prompt"] = prompt + delivered
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            throw .notJSONObject
        }
        return Array(data)
    }
}
