import HearthCore
import HearthSim
import Testing

@Suite struct ValidationWorkloadTests {
    let generator = ValidationWorkloadGenerator(shape: .standard, seed: 7)

    @Test func chatTurnsResendTheConversationBehindOneSharedSystemPrompt() throws {
        let requests = generator.generate(.chatReuse)
        #expect(requests.count == 12)
        let system = try #require(requests.first?.segments.first)
        #expect(requests.allSatisfy { $0.segments.first == system && $0.taskClass == .chat })
        for conversation in ValidationReplayer.conversations(requests) {
            #expect(conversation.count == 3)
            for (earlier, later) in zip(conversation, conversation.dropFirst()) {
                // The later turn's prompt starts with the whole earlier prompt, then the earlier answer.
                #expect(Array(later.segments.prefix(earlier.segments.count)) == earlier.segments)
                #expect(later.segments[earlier.segments.count].tokens == earlier.outputTokens)
            }
        }
    }

    @Test func documentQuestionsShareTheirDocument() {
        let requests = generator.generate(.documentPrefill)
        for conversation in ValidationReplayer.conversations(requests) {
            let document = conversation[0].segments[0]
            #expect((600...800).contains(document.tokens))
            #expect(conversation.allSatisfy { $0.segments.count == 2 && $0.segments[0] == document })
            #expect(Set(conversation.map { $0.segments[1] }).count == conversation.count)
        }
        #expect(Set(requests.map { $0.segments[0] }).count == 4)
    }

    @Test func codeHasShortPromptsAndLongAnswers() {
        let requests = generator.generate(.codeDecode)
        #expect(requests.count == 8)
        #expect(requests.allSatisfy { $0.promptTokens <= 64 && $0.outputTokens >= 128 && $0.taskClass == .code })
    }

    @Test func generationIsDeterministicPerSeed() {
        for workload in ValidationWorkload.allCases {
            #expect(generator.generate(workload) == ValidationWorkloadGenerator(shape: .standard, seed: 7).generate(workload))
            #expect(generator.generate(workload) != ValidationWorkloadGenerator(shape: .standard, seed: 8).generate(workload))
        }
    }

    @Test func promptTextHasOneWordPerRequestedToken() {
        let segments = [PromptSegment(key: 1, tokens: 37), PromptSegment(key: 2, tokens: 5)]
        let text = ValidationPromptText.text(segments)
        #expect(text.split(separator: " ").count == 42)
        #expect(text.hasPrefix(" "))
        // A segment's text depends on its key only, so shared segments give shared text.
        #expect(ValidationPromptText.text([segments[0]]) + ValidationPromptText.text([segments[1]]) == text)
    }

    @Test func blockHashesAgreeExactlyAsFarAsWholeBlocksOfTextAgree() {
        let shared = PromptSegment(key: 1, tokens: 40)
        let a = ValidationPromptText.blockHashes([shared, PromptSegment(key: 2, tokens: 30)], blockTokens: 16)
        let b = ValidationPromptText.blockHashes([shared, PromptSegment(key: 3, tokens: 30)], blockTokens: 16)
        #expect(a.count == 4)
        // Blocks 0 and 1 hold only the shared 40 tokens' first 32; block 2 mixes in the differing segment.
        #expect(Array(a.prefix(2)) == Array(b.prefix(2)))
        #expect(a[2] != b[2])
        // A longer run of the same segment keeps the earlier blocks.
        let longer = ValidationPromptText.blockHashes([PromptSegment(key: 1, tokens: 64)], blockTokens: 16)
        #expect(Array(longer.prefix(2)) == Array(a.prefix(2)))
    }

    @Test func traceSessionsBecomeConversationsAndLengthsAreClamped() {
        let trace = Trace(
            path: "t", format: .burstGPT,
            requests: [
                TraceRequest(arrival: 0, promptTokens: 9000, outputTokens: 5000, sessionKey: 42),
                TraceRequest(arrival: 1, promptTokens: 100, outputTokens: 10),
                TraceRequest(arrival: 2, promptTokens: 200, outputTokens: 20, sessionKey: 42),
            ])
        let requests = ValidationWorkloadGenerator.fromTrace(trace, limit: 10, maxPromptTokens: 1000, maxOutputTokens: 100)
        #expect(requests.map(\.conversation) == [0, 1, 0])
        #expect(requests[0].promptTokens == 1000)
        #expect(requests[0].outputTokens == 100)
        #expect(requests[2].promptTokens == 200)
    }
}
