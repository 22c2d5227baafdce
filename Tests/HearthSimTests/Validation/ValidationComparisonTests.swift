import HearthCore
import HearthSim
import Testing

@Suite struct ValidationComparisonTests {
    func observation(_ id: Int, ttft: Double, e2e: Double, tokens: Int) -> ValidationObservation {
        ValidationObservation(id: id, sentAt: 0, ttft: ttft, e2e: e2e, promptTokens: 10, cachedTokens: nil, completionTokens: tokens)
    }

    @Test func mapeIsTheMeanAbsoluteRelativeError() throws {
        let mape = try #require(ValidationComparison.mape([(1, 1.1), (2, 1.8), (4, 5)]))
        #expect(abs(mape - 15) < 1e-9)
    }

    @Test func mapeSkipsPairsWithoutAUsableRealValue() throws {
        let mape = try #require(ValidationComparison.mape([(0, 5), (-1, 2), (.nan, 1), (2, .infinity), (2, 3)]))
        #expect(abs(mape - 50) < 1e-9)
        #expect(ValidationComparison.mape([(0, 1)]) == nil)
    }

    @Test func percentilesInterpolateLikeNumpy() {
        #expect(abs(ValidationComparison.percentile(of: [4, 1, 3, 2], 0.5) - 2.5) < 1e-12)
        #expect(abs(ValidationComparison.percentile(of: [4, 1, 3, 2], 0.99) - 3.97) < 1e-12)
        #expect(ValidationComparison.percentile(of: [], 0.5) == 0)
        #expect(ValidationComparison.percentile(of: [.nan, 7], 0.5) == 7)
    }

    @Test func requestsAreMatchedByIDAndUnmatchedOnesDropped() {
        let real = [
            observation(3, ttft: 1, e2e: 2, tokens: 5), observation(1, ttft: 1, e2e: 2, tokens: 5),
            observation(2, ttft: 1, e2e: 2, tokens: 5),
        ]
        let simulated = [
            1: SimulatedTiming(ttft: 1, tpot: 0.25, e2e: 2, cachedTokens: 0),
            3: SimulatedTiming(ttft: 2, tpot: 0.25, e2e: 3, cachedTokens: 0),
            9: SimulatedTiming(ttft: 9, tpot: 0.25, e2e: 9, cachedTokens: 0),
        ]
        let pairs = ValidationComparison.matched(real + [observation(3, ttft: 9, e2e: 9, tokens: 5)], simulated)
        #expect(pairs.map(\.real.id) == [1, 3])
        #expect(pairs.map(\.simulated.ttft) == [1, 2])
        // The first observation of a duplicated id is the one kept.
        #expect(pairs.last?.real.ttft == 1)
    }

    @Test func rowComparesEachMetricOverMatchedRequests() throws {
        // Real: TTFT 1 s, 5 tokens over 2 s: TPOT 0.25 s. Simulated: TTFT 1.5 s, TPOT 0.2 s, E2E 2.3 s.
        let real = [observation(0, ttft: 1, e2e: 2, tokens: 5), observation(1, ttft: 1, e2e: 2, tokens: 1)]
        let simulated = [
            0: SimulatedTiming(ttft: 1.5, tpot: 0.2, e2e: 2.3, cachedTokens: 0),
            1: SimulatedTiming(ttft: 1, tpot: nil, e2e: 1, cachedTokens: 0),
        ]
        let row = ValidationComparison.row(workload: "w", concurrency: 2, requests: 3, observations: real, simulated: simulated)
        #expect(row.matched == 2)
        #expect(row.requests == 3)
        let ttft = try #require(row.ttft)
        #expect(abs(ttft.mape - 25) < 1e-9)
        // A one-token answer has no TPOT: only request 0 counts.
        let tpot = try #require(row.tpot)
        #expect(tpot.count == 1)
        #expect(abs(tpot.mape - 20) < 1e-9)
        let e2e = try #require(row.e2e)
        #expect(abs(e2e.mape - (15 + 50) / 2) < 1e-9)
        #expect(row.pairs.count == 2)
    }
}
