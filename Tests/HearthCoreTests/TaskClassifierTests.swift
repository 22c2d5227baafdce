import HearthCore
import Testing

@Suite struct TaskClassifierTests {
    let classifier = TaskClassifier()

    @Test func declaredClassWins() {
        #expect(classifier.classify(declared: "batch", promptTokens: 10, maxOutputTokens: 10, turns: 1) == .batch)
        #expect(classifier.classify(declared: "Code", promptTokens: 10_000, maxOutputTokens: 10, turns: 3) == .code)
    }

    @Test func invalidDeclaredValueIsDetectableAndIgnored() {
        #expect(TaskClass(rawValue: "poetry") == nil)
        #expect(classifier.classify(declared: "poetry", promptTokens: 100, maxOutputTokens: 50, turns: 1) == .chat)
    }

    @Test func shapeRule() {
        #expect(classifier.classify(declared: nil, promptTokens: 8000, maxOutputTokens: 200, turns: 1) == .document)
        #expect(classifier.classify(declared: nil, promptTokens: 8000, maxOutputTokens: 200, turns: 4) == .document)
        #expect(classifier.classify(declared: nil, promptTokens: 500, maxOutputTokens: 2000, turns: 1) == .code)
        #expect(classifier.classify(declared: nil, promptTokens: 500, maxOutputTokens: 2000, turns: 2) == .chat)
        #expect(classifier.classify(declared: nil, promptTokens: 500, maxOutputTokens: nil, turns: 1) == .chat)
        #expect(classifier.classify(declared: nil, promptTokens: 8000, maxOutputTokens: 1000, turns: 1) == .code)
    }

    @Test func targetsScaleWithPrompt() {
        let slo = ClassTargets.default.document
        #expect(slo.ttftTarget(promptTokens: 10_000) == 4.0)
        #expect(slo.isMet(ttft: 3.9, tpot: 0.1, promptTokens: 10_000))
        #expect(!slo.isMet(ttft: 3.9, tpot: 0.2, promptTokens: 10_000))
        #expect(ClassTargets.default[.code].tpotSeconds == 0.05)
    }
}
