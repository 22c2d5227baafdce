public import HearthCore

/// The engine model `hearth sim validate` simulates with: a ``NodeProfile`` and the decode step's growth with context.
public struct ValidationProfile: Sendable, Hashable, Codable {
    public var node: NodeProfile
    /// See ``SimulationConfiguration/decodeSecondsPerContextToken``.
    public var decodeSecondsPerContextToken: Double

    public init(node: NodeProfile, decodeSecondsPerContextToken: Double = 0) {
        self.node = node
        self.decodeSecondsPerContextToken = decodeSecondsPerContextToken.isFinite ? max(0, decodeSecondsPerContextToken) : 0
    }

    enum CodingKeys: String, CodingKey {
        case node
        case decodeSecondsPerContextToken = "decode_s_per_context_token"
    }
}

/// Calibration for validation runs, timed by the same client as the runs themselves: uncached prompts of several
/// lengths one at a time (prefill), and short-prompt answers decoded 1, 2 and 4 at once plus one over a long prompt
/// (decode step by batch and by context). Every probe runs `rounds` times; the median of each enters the fit.
public struct ValidationCalibration: Sendable {
    /// One probe: requests sent together.
    public struct Probe: Sendable {
        public var requests: [ValidationRequest]
    }

    public var rounds: Int
    public var maxPromptTokens: Int
    public var slots: Int

    public init(rounds: Int = 2, maxPromptTokens: Int, slots: Int) {
        self.rounds = max(1, rounds)
        self.maxPromptTokens = max(16, maxPromptTokens)
        self.slots = max(1, slots)
    }

    /// Probes in the order to send them; every prompt is fresh text, so nothing is served from cache.
    public func probes(seed: UInt64 = 0xCA11) -> [Probe] {
        var probes: [Probe] = []
        var id = 0
        func request(prompt: Int, output: Int) -> ValidationRequest {
            defer { id += 1 }
            return ValidationRequest(
                id: id, workload: "calibration", conversation: id,
                segments: [PromptSegment(key: ValidationPromptText.mix(seed, UInt64(id)), tokens: prompt)], outputTokens: output,
                taskClass: .chat)
        }
        let long = min(512, maxPromptTokens)
        for _ in 0..<rounds {
            for prompt in [32, min(256, maxPromptTokens), long] { probes.append(Probe(requests: [request(prompt: prompt, output: 2)])) }
            for batch in Set([1, min(2, slots), min(4, slots)]).sorted() {
                probes.append(Probe(requests: (0..<batch).map { _ in request(prompt: 16, output: 48) }))
            }
            probes.append(Probe(requests: [request(prompt: long, output: 48)]))
        }
        return probes
    }

    /// Sends every probe (its requests at once) and fits; nil when the engine's answers leave nothing to fit.
    public func run(model: String, client: any ValidationEngineClient) async -> ValidationProfile? {
        let probes = probes()
        var observations: [[ValidationObservation]] = []
        for probe in probes {
            let observed = await withTaskGroup(of: ValidationObservation?.self) { group in
                for request in probe.requests { group.addTask { try? await client.send(request, sentAt: 0) } }
                var all: [ValidationObservation] = []
                for await observation in group { if let observation { all.append(observation) } }
                return all
            }
            observations.append(observed)
        }
        return Self.fit(model: model, probes: probes, observations: observations, slots: slots)
    }

    /// One measured decode point: a step's time with `batch` sequences holding `context` tokens in all.
    struct DecodePoint: Hashable {
        var batch: Int
        var context: Double
        var step: Double
    }

    /// Fits the profile from the probes' observations (`observations[i]` answers `probes[i]`), or nil without usable
    /// prefill and decode figures.
    public static func fit(
        model: String, probes: [Probe], observations: [[ValidationObservation]], slots: Int
    ) -> ValidationProfile? {
        var prefill: [Int: [Double]] = [:]
        var decode: [[Int]: (contexts: [Double], steps: [Double])] = [:]
        for (probe, observed) in zip(probes, observations) {
            let batch = observed.count
            guard batch > 0, batch == probe.requests.count else { continue }
            if batch == 1, let only = observed.first, only.ttft.isFinite, only.ttft > 0 {
                let uncached = max(1, only.promptTokens - (only.cachedTokens ?? 0))
                if only.completionTokens <= 2 { prefill[uncached, default: []].append(only.ttft) }
            }
            let steps = observed.compactMap(\.tpot).filter { $0.isFinite && $0 > 0 }
            guard steps.count == batch, observed.allSatisfy({ $0.completionTokens > 8 }) else { continue }
            let context = observed.reduce(0) { $0 + $1.promptTokens + $1.completionTokens / 2 }
            // Key by (batch, context rounded to 16 tokens) so repeats of a probe meet.
            decode[[batch, context / 16], default: ([], [])].contexts.append(Double(context))
            decode[[batch, context / 16], default: ([], [])].steps.append(contentsOf: steps)
        }
        let prefillPoints = prefill.map { (x: Double($0.key), y: median($0.value)) }
        let decodePoints = decode.map { DecodePoint(batch: $0.key[0], context: median($0.value.contexts), step: median($0.value.steps)) }
        guard let line = linearFit(prefillPoints), line.slope > 0, let step = fitDecode(decodePoints) else { return nil }
        let node = NodeProfile(
            model: model, prefillTokensPerSecond: 1 / line.slope, prefillOverheadSeconds: max(0, line.intercept),
            decodeBaseSeconds: step.base, decodePerSequenceSeconds: step.perSequence, maxBatch: slots, linkRTTSeconds: 0)
        return ValidationProfile(node: node, decodeSecondsPerContextToken: step.perContextToken)
    }

    /// Least squares `step = base + perSequence × batch + perContextToken × context`, coefficients kept ≥ 0 (a
    /// negative one is dropped and the rest refitted).
    static func fitDecode(_ points: [DecodePoint]) -> (base: Double, perSequence: Double, perContextToken: Double)? {
        guard !points.isEmpty else { return nil }
        var use = [true, true, true]
        while true {
            let columns = (0..<3).filter { use[$0] }
            let rows = points.map { point -> [Double] in
                let all = [1, Double(point.batch), point.context]
                return columns.map { all[$0] }
            }
            guard !columns.isEmpty else { return nil }
            if let solution = leastSquares(rows, points.map(\.step)) {
                if let negative = zip(columns, solution).first(where: { $0.1 < 0 })?.0 {
                    use[negative] = false
                    continue
                }
                var coefficients = [0.0, 0.0, 0.0]
                for (column, value) in zip(columns, solution) { coefficients[column] = value }
                return (coefficients[0], coefficients[1], coefficients[2])
            }
            // Too few distinct points for every column: drop the context term first, then the batch term.
            guard let drop = [2, 1].first(where: { use[$0] }) else { return nil }
            use[drop] = false
        }
    }

    /// Ordinary least squares by the normal equations; nil when they are singular.
    static func leastSquares(_ rows: [[Double]], _ values: [Double]) -> [Double]? {
        guard let width = rows.first?.count, width > 0, rows.count >= width else { return nil }
        var a = [[Double]](repeating: [Double](repeating: 0, count: width + 1), count: width)
        for (row, value) in zip(rows, values) {
            for i in 0..<width {
                for j in 0..<width { a[i][j] += row[i] * row[j] }
                a[i][width] += row[i] * value
            }
        }
        // Gauss-Jordan elimination with partial pivoting.
        for column in 0..<width {
            guard let pivot = (column..<width).max(by: { abs(a[$0][column]) < abs(a[$1][column]) }),
                abs(a[pivot][column]) > 1e-12 * max(1, abs(a[column][column]))
            else { return nil }
            a.swapAt(column, pivot)
            for row in 0..<width where row != column {
                let factor = a[row][column] / a[column][column]
                for k in column...width { a[row][k] -= factor * a[column][k] }
            }
        }
        let solution = (0..<width).map { a[$0][width] / a[$0][$0] }
        return solution.allSatisfy(\.isFinite) ? solution : nil
    }

    static func linearFit(_ points: [(x: Double, y: Double)]) -> (intercept: Double, slope: Double)? {
        if points.count == 1, let only = points.first, only.x > 0 { return (0, only.y / only.x) }
        guard let solution = leastSquares(points.map { [1, $0.x] }, points.map(\.y)) else { return nil }
        return (solution[0], solution[1])
    }

    static func median(_ values: [Double]) -> Double {
        ValidationComparison.percentile(of: values, 0.5)
    }
}
