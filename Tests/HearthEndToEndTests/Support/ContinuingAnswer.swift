import Foundation
import HearthNode
import NIOCore
import Synchronization

/// A deterministic answer an engine can continue: the same words every time, resumed after whatever
/// assistant prefix the request carries (as llama.cpp does with a final assistant message), so a test can
/// check that a failed-over stream has no duplicated or missing text.
enum ContinuingAnswer {
    static let words = (0..<12).map { "word\($0) " }
    static var text: String { words.joined() }

    /// The assistant prefix a resumed request carries ("" for a first attempt).
    static func prefix(of request: EngineRequest) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: request.body)) as? [String: Any],
            let messages = object["messages"] as? [[String: Any]], let last = messages.last, last["role"] as? String == "assistant"
        else { return "" }
        return last["content"] as? String ?? ""
    }

    /// The words still to send after `prefix`.
    static func remaining(after prefix: String) -> ArraySlice<String> {
        var consumed = 0
        var rest = Substring(prefix)
        while consumed < words.count, rest.hasPrefix(words[consumed]) {
            rest = rest.dropFirst(words[consumed].count)
            consumed += 1
        }
        return words[consumed...]
    }

    static func chunk(_ word: String) -> ByteBuffer {
        ByteBuffer(
            string:
                #"data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"test-model","choices":[{"index":0,"delta":{"content":"\#(word)"}}]}"#
                + "\n\n")
    }

    static let finish = ByteBuffer(
        string:
            #"data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"test-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#
            + "\n\ndata: [DONE]\n\n")

    /// An engine behaviour: the first request of the test (across all engines sharing `stall`) sends
    /// `stallAfter` words and then waits on the gate (the test makes its node fail); every other request,
    /// resumed or new, runs to the end.
    static func behaviour(stallAfter: Int, stall: StallOnce) -> TestEngine.Behaviour {
        { request, gate, emit in
            let prefix = prefix(of: request)
            let rest = remaining(after: prefix)
            let stalls = prefix.isEmpty && stall.take()
            for (i, word) in rest.enumerated() {
                if stalls && i == stallAfter { try await gate.wait() }
                try await emit(chunk(word))
            }
            try await emit(finish)
        }
    }
}

/// Lets exactly one request stall.
final class StallOnce: Sendable {
    private let available = Mutex(true)

    func take() -> Bool {
        available.withLock { available in
            defer { available = false }
            return available
        }
    }
}
