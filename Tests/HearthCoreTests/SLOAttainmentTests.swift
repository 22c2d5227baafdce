import HearthCore
import Testing

@Suite struct SLOAttainmentTests {
    let chat = ClassTargets.default.chat

    @Test func tpotIsTheMeanGapAfterTheFirstToken() {
        #expect(SLOAttainment.timePerOutputToken(ttftSeconds: 0.5, totalSeconds: 1.5, completionTokens: 11) == 0.1)
        #expect(SLOAttainment.timePerOutputToken(ttftSeconds: 0.5, totalSeconds: 0.5, completionTokens: 1) == nil)
        // A clock that went backwards (total before the first token) is no pace.
        #expect(SLOAttainment.timePerOutputToken(ttftSeconds: 2, totalSeconds: 1, completionTokens: 5) == nil)
    }

    @Test func judgesTTFTAndTPOTAgainstTheClassObjective() {
        // Chat: TTFT 1 s + 0.1 s per 1k prompt tokens, TPOT 100 ms.
        let met = SLOAttainment.judge(chat, ttftSeconds: 0.9, totalSeconds: 1.8, completionTokens: 10, promptTokens: 100, bestEffort: false)
        #expect(met == .met)
        let slowStart = SLOAttainment.judge(
            chat, ttftSeconds: 1.2, totalSeconds: 1.3, completionTokens: 2, promptTokens: 100, bestEffort: false)
        #expect(slowStart == .missed)
        // A long prompt earns a longer TTFT target.
        let longPrompt = SLOAttainment.judge(
            chat, ttftSeconds: 1.2, totalSeconds: 1.25, completionTokens: 2, promptTokens: 4_000, bestEffort: false)
        #expect(longPrompt == .met)
        let slowDecode = SLOAttainment.judge(
            chat, ttftSeconds: 0.2, totalSeconds: 3.2, completionTokens: 11, promptTokens: 10, bestEffort: false)
        #expect(slowDecode == .missed)
        #expect(
            SLOAttainment.judge(chat, ttftSeconds: 5, totalSeconds: 9, completionTokens: 3, promptTokens: 10, bestEffort: true)
                == .bestEffort)
        #expect(
            SLOAttainment.judge(chat, ttftSeconds: nil, totalSeconds: 1, completionTokens: 0, promptTokens: 10, bestEffort: false) == nil)
    }
}
