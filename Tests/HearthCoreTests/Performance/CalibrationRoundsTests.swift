import HearthCore
import Testing

/// A node's calibration repeats until two rounds agree, and a busy round is outvoted by the median.
@Suite struct CalibrationRoundsTests {
    static func round(prefill: Double, step: Double) -> [CalibrationSample?] {
        [
            CalibrationSample(promptTokens: 20, prefillSeconds: prefill, batchSize: 1, decodeStepSeconds: step),
            CalibrationSample(promptTokens: 530, prefillSeconds: prefill * 20, batchSize: 1, decodeStepSeconds: step),
        ]
    }

    @Test("a busy first round is measured again until two rounds agree within 10 %, and the median outvotes it")
    func aBusyRoundIsOutvoted() {
        var rounds = CalibrationRounds()
        rounds.add(Self.round(prefill: 0.3, step: 0.09))  // the machine was busy
        #expect(!rounds.isDone)
        rounds.add(Self.round(prefill: 0.1, step: 0.03))
        #expect(!rounds.isDone, "3× apart: not stable")
        rounds.add(Self.round(prefill: 0.105, step: 0.031))
        #expect(rounds.isStable && rounds.isDone)
        #expect(rounds.rounds.count == 3)
        let medians = rounds.medianSamples
        #expect(medians.count == 2)
        #expect(medians[0].prefillSeconds == 0.105 && medians[0].decodeStepSeconds == 0.031)
        #expect(medians[1].prefillSeconds == 0.105 * 20)
    }

    @Test("rounds that never agree stop after five; a round that measured nothing stops at once")
    func roundsAreBounded() {
        var noisy = CalibrationRounds()
        for index in 0..<10 where !noisy.isDone {
            noisy.add(Self.round(prefill: index % 2 == 0 ? 0.1 : 0.2, step: 0.03))
        }
        #expect(noisy.rounds.count == 5 && !noisy.isStable)
        #expect(noisy.medianSamples[0].prefillSeconds == 0.1)

        var dead = CalibrationRounds()
        dead.add([nil, nil])
        #expect(dead.isDone && dead.medianSamples.isEmpty)
    }

    @Test("a case measured in one round and failed in the next is not agreement")
    func aFailedCaseIsNotAgreement() {
        var rounds = CalibrationRounds()
        rounds.add(Self.round(prefill: 0.1, step: 0.03))
        rounds.add([Self.round(prefill: 0.1, step: 0.03)[0], nil])
        #expect(!rounds.isStable)
        rounds.add(Self.round(prefill: 0.1, step: 0.03))
        rounds.add(Self.round(prefill: 0.1, step: 0.03))
        #expect(rounds.isStable)
        #expect(rounds.medianSamples.count == 2)
    }
}
