import HearthCore

/// Turns simulation outcomes into report figures.
public enum ReportBuilder {
    public static func policyReport(_ result: SimulationResult) -> PolicyReport {
        let duration = max(result.duration, 1e-9)
        var classes: [String: ClassReport] = [:]
        for taskClass in TaskClass.allCases {
            let outcomes = result.outcomes.filter { $0.taskClass == taskClass }
            guard !outcomes.isEmpty else { continue }
            classes[taskClass.rawValue] = classReport(outcomes, targets: result.targets, duration: duration)
        }
        let all = classReport(result.outcomes, targets: result.targets, duration: duration)
        let placed = result.outcomes.filter { !$0.refused }
        let promptTokens = placed.reduce(0) { $0 + $1.promptTokens }
        let cached = placed.reduce(0) { $0 + $1.cachedTokens }
        let errors = placed.map { abs($0.ttft - $0.gatewayQueueSeconds - $0.predictedTTFT) }.sorted()
        return PolicyReport(
            policy: result.policy.rawValue, requests: all.requests, slo_attainment: all.slo_attainment, goodput_rps: all.goodput_rps,
            refused: all.refused, ttft_p50_ms: all.ttft_p50_ms, ttft_p99_ms: all.ttft_p99_ms, tpot_p50_ms: all.tpot_p50_ms,
            tpot_p99_ms: all.tpot_p99_ms, cached_prompt_share: promptTokens == 0 ? 0 : Double(cached) / Double(promptTokens),
            ttft_prediction_error_p50_ms: percentile(errors, 0.5) * 1000, classes: classes, met: all.met, best_effort: all.best_effort)
    }

    static func classReport(_ outcomes: [RequestOutcome], targets: ClassTargets, duration: Double) -> ClassReport {
        var met = 0
        var refused = 0
        var bestEffort = 0
        var ttfts: [Double] = []
        var tpots: [Double] = []
        ttfts.reserveCapacity(outcomes.count)
        tpots.reserveCapacity(outcomes.count)
        for outcome in outcomes {
            if outcome.refused {
                refused += 1
                continue
            }
            if outcome.lost { continue }  // in flight on a node that went down: counted, never met
            if outcome.bestEffort { bestEffort += 1 }
            ttfts.append(outcome.ttft)
            if outcome.outputTokens > 1 { tpots.append(outcome.tpot) }
            // A best-effort request was placed with its miss foreseen: served, reported apart, never counted as met.
            if !outcome.bestEffort,
                targets[outcome.taskClass].isMet(ttft: outcome.ttft, tpot: outcome.tpot, promptTokens: outcome.promptTokens)
            {
                met += 1
            }
        }
        ttfts.sort()
        tpots.sort()
        func ms(_ x: Double) -> Double { (x * 100_000).rounded() / 100 }
        return ClassReport(
            requests: outcomes.count, slo_attainment: outcomes.isEmpty ? 0 : Double(met) / Double(outcomes.count),
            goodput_rps: Double(met) / duration, refused: refused, ttft_p50_ms: ms(percentile(ttfts, 0.5)),
            ttft_p99_ms: ms(percentile(ttfts, 0.99)), tpot_p50_ms: ms(percentile(tpots, 0.5)), tpot_p99_ms: ms(percentile(tpots, 0.99)),
            met: met, best_effort: bestEffort)
    }
}
