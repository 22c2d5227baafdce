/// The error statistics of one metric over matched requests: MAPE and the real and simulated p50/p99.
public struct MetricComparison: Sendable, Hashable, Codable {
    /// Mean absolute percentage error of the simulated values against the real ones, percent.
    public var mape: Double
    public var realP50: Double
    public var simulatedP50: Double
    public var realP99: Double
    public var simulatedP99: Double
    /// Pairs that entered the figures (real value finite and positive, simulated value finite).
    public var count: Int

    enum CodingKeys: String, CodingKey {
        case mape = "mape_percent"
        case realP50 = "real_p50_s"
        case simulatedP50 = "sim_p50_s"
        case realP99 = "real_p99_s"
        case simulatedP99 = "sim_p99_s"
        case count
    }
}

/// The comparison maths of `hearth sim validate`.
public enum ValidationComparison {
    /// Mean absolute percentage error of `simulated` against `real`, percent, over pairs whose real value is finite
    /// and positive and whose simulated value is finite; nil when no pair qualifies.
    public static func mape(_ pairs: [(real: Double, simulated: Double)]) -> Double? {
        let usable = pairs.filter { $0.real.isFinite && $0.real > 0 && $0.simulated.isFinite }
        guard !usable.isEmpty else { return nil }
        let total = usable.reduce(0.0) { $0 + abs($1.simulated - $1.real) / $1.real }
        return total / Double(usable.count) * 100
    }

    /// Linear-interpolated percentile (numpy's default), `q` in 0...1; 0 for no values.
    public static func percentile(of values: [Double], _ q: Double) -> Double {
        HearthSim.percentile(values.filter(\.isFinite).sorted(), min(1, max(0, q)))
    }

    /// MAPE and percentiles of one metric; nil when no pair is usable.
    public static func compare(_ pairs: [(real: Double, simulated: Double)]) -> MetricComparison? {
        let usable = pairs.filter { $0.real.isFinite && $0.real > 0 && $0.simulated.isFinite }
        guard let mape = mape(usable) else { return nil }
        let real = usable.map(\.real)
        let simulated = usable.map(\.simulated)
        return MetricComparison(
            mape: mape, realP50: percentile(of: real, 0.5), simulatedP50: percentile(of: simulated, 0.5),
            realP99: percentile(of: real, 0.99), simulatedP99: percentile(of: simulated, 0.99), count: usable.count)
    }

    /// Real and simulated values paired by request id, in id order; ids on one side only are dropped.
    public static func matched(
        _ observations: [ValidationObservation], _ simulated: [Int: SimulatedTiming]
    ) -> [(real: ValidationObservation, simulated: SimulatedTiming)] {
        var seen = Set<Int>()
        return observations.sorted { $0.id < $1.id }.compactMap { observation in
            guard seen.insert(observation.id).inserted, let timing = simulated[observation.id] else { return nil }
            return (observation, timing)
        }
    }

    /// One row of the report: a workload at a load level.
    public static func row(
        workload: String, concurrency: Int, requests: Int, observations: [ValidationObservation], simulated: [Int: SimulatedTiming]
    ) -> ValidationRow {
        let pairs = matched(observations, simulated)
        let ttft = pairs.map { (real: $0.real.ttft, simulated: $0.simulated.ttft) }
        let tpot = pairs.compactMap { pair -> (real: Double, simulated: Double)? in
            guard let real = pair.real.tpot, let simulated = pair.simulated.tpot else { return nil }
            return (real, simulated)
        }
        let e2e = pairs.map { (real: $0.real.e2e, simulated: $0.simulated.e2e) }
        return ValidationRow(
            workload: workload, concurrency: concurrency, requests: requests, matched: pairs.count, ttft: compare(ttft),
            tpot: compare(tpot), e2e: compare(e2e), pairs: pairs.map { ValidationPair($0.real, $0.simulated) })
    }
}
