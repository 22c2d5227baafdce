import HearthCore
import HearthSim
import Testing

@Suite struct ValidationCalibrationTests {
    /// Answers every probe from a known engine: prefill 0.05 s + 1/200 s per computed token + 10 µs per pair of a
    /// computed token and one before it, decode step 2 ms + 12 ms × batch + 15 µs per context token. A prompt's leading
    /// segment is cached when the prompt has more than one (the probes send that prefix alone just before).
    func observe(_ probe: ValidationCalibration.Probe) -> [ValidationObservation] {
        let batch = probe.requests.count
        let context = probe.requests.reduce(0) { $0 + $1.promptTokens + $1.outputTokens / 2 }
        let step = 0.002 + 0.012 * Double(batch) + 15e-6 * Double(context)
        return probe.requests.map { request in
            let cached = request.segments.count > 1 ? request.segments[0].tokens : 0
            let computed = Double(request.promptTokens - cached)
            let ttft = 0.05 + computed / 200 + 1e-5 * computed * (Double(cached) + computed / 2)
            return ValidationObservation(
                id: request.id, sentAt: 0, ttft: ttft, e2e: ttft + step * Double(request.outputTokens - 1),
                promptTokens: request.promptTokens, cachedTokens: cached, completionTokens: request.outputTokens)
        }
    }

    @Test func fitRecoversAKnownEngine() throws {
        let calibration = ValidationCalibration(rounds: 2, maxPromptTokens: 2048, slots: 4)
        let probes = calibration.probes()
        #expect(Set(probes.map(\.requests.count)) == [1, 2, 4])
        // Each round probes two short prompts after the longest fresh prompt, sent just before (so still cached).
        #expect(probes.filter { $0.requests.first?.segments.count == 2 }.count == 4)
        let fitted = try #require(
            ValidationCalibration.fit(model: "m", probes: probes, observations: probes.map(observe), slots: 4))
        #expect(abs(fitted.node.prefillTokensPerSecond - 200) < 1e-6)
        #expect(abs(fitted.node.prefillOverheadSeconds - 0.05) < 1e-9)
        #expect(abs(fitted.prefillSecondsPerContextToken - 1e-5) < 1e-12)
        #expect(abs(fitted.node.decodeBaseSeconds - 0.002) < 1e-9)
        #expect(abs(fitted.node.decodePerSequenceSeconds - 0.012) < 1e-9)
        #expect(abs(fitted.decodeSecondsPerContextToken - 15e-6) < 1e-12)
        #expect(fitted.node.maxBatch == 4)
    }

    @Test func aNegativeContextTermIsDroppedNotKept() throws {
        let calibration = ValidationCalibration(rounds: 1, maxPromptTokens: 2048, slots: 2)
        let probes = calibration.probes()
        // Decode gets faster with context (noise): the fit keeps the term at 0.
        let observations = probes.map { probe -> [ValidationObservation] in
            let long = probe.requests.contains { $0.promptTokens > 100 }
            return observe(probe).map { observation in
                var copy = observation
                if long && copy.completionTokens > 2 { copy.e2e = copy.ttft + 0.001 * Double(copy.completionTokens - 1) }
                return copy
            }
        }
        let fitted = try #require(ValidationCalibration.fit(model: "m", probes: probes, observations: observations, slots: 2))
        #expect(fitted.decodeSecondsPerContextToken == 0)
        #expect(fitted.node.decodePerSequenceSeconds >= 0)
        #expect(fitted.node.decodeBaseSeconds >= 0)
    }

    @Test func noAnswersNoProfile() {
        let calibration = ValidationCalibration(rounds: 1, maxPromptTokens: 512, slots: 1)
        let probes = calibration.probes()
        #expect(ValidationCalibration.fit(model: "m", probes: probes, observations: probes.map { _ in [] }, slots: 1) == nil)
    }
}
