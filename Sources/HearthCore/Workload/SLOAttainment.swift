/// How one finished request fared against its class's objective, as dashboards and alerts count it.
public enum SLOAttainment: String, Sendable, CaseIterable {
    /// Its TTFT and mean TPOT were within target.
    case met
    /// Placed to meet the target, and it did not.
    case missed
    /// Placed knowing the target would be missed (the client accepted best effort): neither met nor missed.
    case bestEffort = "best_effort"

    /// Mean time per output token after the first: the decode pace the client saw. Nil with fewer than two tokens.
    public static func timePerOutputToken(ttftSeconds: Double, totalSeconds: Double, completionTokens: Int) -> Double? {
        guard completionTokens > 1, totalSeconds >= ttftSeconds else { return nil }
        return (totalSeconds - ttftSeconds) / Double(completionTokens - 1)
    }

    /// Judges a completed answer. Nil when there is nothing to judge (no first token: the request failed or was
    /// refused, and counts in the request counters instead).
    public static func judge(
        _ objective: ServiceLevelObjective, ttftSeconds: Double?, totalSeconds: Double, completionTokens: Int, promptTokens: Int,
        bestEffort: Bool
    ) -> SLOAttainment? {
        guard let ttftSeconds else { return nil }
        if bestEffort { return .bestEffort }
        let tpot = timePerOutputToken(ttftSeconds: ttftSeconds, totalSeconds: totalSeconds, completionTokens: completionTokens) ?? 0
        return objective.isMet(ttft: ttftSeconds, tpot: tpot, promptTokens: promptTokens) ? .met : .missed
    }
}
