import Foundation
import HearthCore
import HearthGateway
import NIOCore
import Testing

/// `n` > 1 (issue 16): engines answer one choice a request, so the gateway fans the request out across nodes and
/// joins the answers; each choice is placed, billed and moved like a request of its own.
@Suite struct ChoicesTests {
    /// Answers with the seed it got (so choices are told apart) and 3 completion tokens; streamed as three events.
    static func seedEngine() -> TestEngine {
        TestEngine { request, _, emit in
            let body = try JSONSerialization.jsonObject(with: Data(buffer: request.body)) as? [String: Any] ?? [:]
            #expect(body["n"] == nil, "an engine got n")
            let text = "seed \(body["seed"] as? Int ?? -1)"
            guard body["stream"] as? Bool == true else {
                let answer: [String: Any] = [
                    "id": "engine-id", "object": "chat.completion", "created": 1, "model": "test-model",
                    "choices": [["index": 0, "finish_reason": "stop", "message": ["role": "assistant", "content": text]]],
                    "usage": ["prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13],
                ]
                return try await emit(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: answer)))
            }
            try await emit(ToolCallFailoverTests.event(#"{"role":"assistant","content":""}"#))
            try await emit(ToolCallFailoverTests.event(#"{"content":"\#(text)"}"#))
            try await emit(ToolCallFailoverTests.event("{}", finish: "stop"))
            if (body["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true {
                try await emit(
                    ByteBuffer(
                        string:
                            #"data: {"id":"engine-id","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}"#
                            + "\n\n"))
            }
            try await emit(ByteBuffer(string: "data: [DONE]\n\n"))
        }
    }

    static var nodes: [TestNodeSpec] { (0..<3).map { TestNodeSpec(id: "node-\($0)", engine: seedEngine()) } }

    @Test func aBufferedRequestForThreeChoicesGetsThreeJoinedAndBilledPerChoice() async throws {
        try await withTestFleet(nodes: Self.nodes) { fleet in
            let answer = try await fleet.post(
                json: chatBody(model: "test-model", extra: ["n": 3, "seed": 40, "metadata": ["task": "chat"]]))
            #expect(answer.status == 200, "\(answer.body)")
            let json = try #require(answer.json)
            let choices = try #require(json["choices"] as? [[String: Any]])
            #expect(choices.map { $0["index"] as? Int } == [0, 1, 2])
            let texts = choices.compactMap { ($0["message"] as? [String: Any])?["content"] as? String }
            #expect(texts == ["seed 40", "seed 41", "seed 42"])
            let usage = try #require(json["usage"] as? [String: Int])
            #expect(usage == ["prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19])
            #expect(answer.headers["x-hearth-node"]?.split(separator: ",").count == 3)
            // One usage row a choice: the request's id, then `-1`, `-2`.
            let requestID = try #require(answer.headers["x-request-id"])
            try await fleet.gateway.ledger.flush()
            for id in [requestID, requestID + "-1", requestID + "-2"] {
                let row = try #require(try await fleet.gateway.store.usage(requestID: id).first, "no row for \(id)")
                #expect(row.completionTokens == 3)
                #expect(row.outcome == .completed)
            }
        }
    }

    @Test func aStreamedRequestForTwoChoicesInterleavesWholeEventsAndEndsOnce() async throws {
        try await withTestFleet(nodes: Self.nodes) { fleet in
            let answer = try await fleet.post(
                json: chatBody(
                    model: "test-model", stream: true,
                    extra: ["n": 2, "seed": 7, "stream_options": ["include_usage": true], "metadata": ["task": "chat"]]))
            #expect(answer.status == 200)
            #expect(answer.events.last == "[DONE]")
            #expect(answer.events.filter { $0 == "[DONE]" }.count == 1)
            let chunks = answer.events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(Set(chunks.compactMap { $0["id"] as? String }).count == 1)
            var texts: [Int: String] = [:]
            for chunk in chunks {
                for choice in chunk["choices"] as? [[String: Any]] ?? [] {
                    let index = try #require(choice["index"] as? Int)
                    texts[index, default: ""] += (choice["delta"] as? [String: Any])?["content"] as? String ?? ""
                }
            }
            #expect(texts == [0: "seed 7", 1: "seed 8"])
            // The usage chunk comes once, last, with the prompt counted once and the completions summed.
            let usageChunks = chunks.filter { $0["usage"] != nil }
            #expect(usageChunks.count == 1)
            #expect(usageChunks.first?["usage"] as? [String: Int] == ["prompt_tokens": 10, "completion_tokens": 6, "total_tokens": 16])
            #expect((chunks.last?["usage"]) != nil)
        }
    }

    @Test func moreChoicesThanTheGatewayServesAreRefusedNamingN() async throws {
        try await withTestFleet(nodes: Self.nodes) { fleet in
            let refused = try await fleet.post(json: chatBody(model: "test-model", extra: ["n": 17]))
            #expect(refused.status == 400)
            #expect(refused.error?["param"] as? String == "n")
            let malformed = try await fleet.post(json: chatBody(model: "test-model", extra: ["n": 0]))
            #expect(malformed.status == 400)
            #expect(malformed.error?["param"] as? String == "n")
        }
    }
}
