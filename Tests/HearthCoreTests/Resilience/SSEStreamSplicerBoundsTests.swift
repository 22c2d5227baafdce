import HearthCore
import Testing

/// What a hostile node can make the splicer hold or compute after a failover.
@Suite struct SSEStreamSplicerBoundsTests {
    static let hugeUsage =
        #"data: {"id":"a","choices":[],"usage":{"prompt_tokens":\#(Int.max),"completion_tokens":\#(Int.max),"total_tokens":-1}}"# + "\n\n"

    @Test func aNodesUsageCountsCannotOverflowTheClientsTotals() {
        var splicer = SSEStreamSplicer(endpoint: .chatCompletions, originalPromptTokens: 10)
        _ = splicer.ingest(Array(SSEStreamSplicerTests.chunk("a", role: "assistant", content: "Hi").utf8))
        _ = splicer.ingest(Array(Self.hugeUsage.utf8))
        splicer.startNextAttempt()
        _ = splicer.ingest(Array(Self.hugeUsage.utf8))
        let usage = splicer.usage
        #expect(usage.clientCompletionTokens <= 2 * AnswerAudit.countCeiling)
        #expect(usage.computedPromptTokens <= 2 * AnswerAudit.countCeiling)
    }

    @Test func textPastTheReplayLimitIsNotKeptAndTheAnswerCannotResume() {
        var splicer = SSEStreamSplicer(endpoint: .chatCompletions, originalPromptTokens: 1, maximumReplayBytes: 10)
        let out = splicer.ingest(
            Array((SSEStreamSplicerTests.chunk("a", content: "12345") + SSEStreamSplicerTests.chunk("a", content: "678901")).utf8))
        #expect(!out.isEmpty, "the client still gets every event")
        #expect(splicer.replayLost)
        #expect(splicer.deliveredText.utf8.count <= 10)
    }

    @Test func aFloodWithoutBoundariesIsHeldOnlyAsPending() {
        var splicer = SSEStreamSplicer(endpoint: .chatCompletions, originalPromptTokens: 1)
        var relayed = 0
        for _ in 0..<200_000 { relayed += splicer.ingest([UInt8(ascii: "x")]).count }
        #expect(relayed == 0)
        #expect(splicer.pendingBytes == 200_000)
        // An event end split over two ingests (and over \r\n pairs) is still found.
        _ = splicer.ingest(Array("\r\n".utf8))
        #expect(splicer.pendingBytes == 200_002)
        _ = splicer.ingest(Array("\r\n".utf8))
        #expect(splicer.pendingBytes == 0)
    }
}
