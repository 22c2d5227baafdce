public import HearthCore

/// The engine model `hearth sim validate` simulates with: a ``NodeProfile`` and the decode step's growth with context.
public struct ValidationProfile: Sendable, Hashable, Codable {
    public var node: NodeProfile
    /// See ``SimulationConfiguration/decodeSecondsPerContextToken``.
    public var decodeSecondsPerContextToken: Double
    /// See ``SimulationConfiguration/prefillSecondsPerContextToken``.
    public var prefillSecondsPerContextToken: Double

    public init(node: NodeProfile, decodeSecondsPerContextToken: Double = 0, prefillSecondsPerContextToken: Double = 0) {
        self.node = node
        self.decodeSecondsPerContextToken = decodeSecondsPerContextToken.isFinite ? max(0, decodeSecondsPerContextToken) : 0
        self.prefillSecondsPerContextToken = prefillSecondsPerContextToken.isFinite ? max(0, prefillSecondsPerContextToken) : 0
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            node: try container.decode(NodeProfile.self, forKey: .node),
            decodeSecondsPerContextToken: try container.decodeIfPresent(Double.self, forKey: .decodeSecondsPerContextToken) ?? 0,
            prefillSecondsPerContextToken: try container.decodeIfPresent(Double.self, forKey: .prefillSecondsPerContextToken) ?? 0)
    }

    enum CodingKeys: String, CodingKey {
        case node
        case decodeSecondsPerContextToken = "decode_s_per_context_token"
        case prefillSecondsPerContextToken = "prefill_s_per_context_token"
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
        func request(prompt: Int, output: Int, after prefix: PromptSegment? = nil) -> ValidationRequest {
            defer { id += 1 }
            let fresh = PromptSegment(key: ValidationPromptText.mix(seed, UInt64(id)), tokens: prompt)
            return ValidationRequest(
                id: id, workload: "calibration", conversation: id, segments: (prefix.map { [$0] } ?? []) + [fresh],
                outputTokens: output, taskClass: .chat)
        }
        let long = min(512, maxPromptTokens)
        for _ in 0..<rounds {
            for prompt in Set([32, min(128, maxPromptTokens), min(256, maxPromptTokens), long, min(768, maxPromptTokens)]).sorted() {
                probes.append(Probe(requests: [request(prompt: prompt, output: 2)]))
            }
            // Short prompts after a cached prefix (the longest fresh prompt, just sent, so still in a slot), as a
            // conversation's later turns and a document's later questions are: their cost is mostly attention over the
            // prefix, which fresh prompts alone cannot separate from the per-prompt overhead.
            if let prefix = probes.last?.requests.first?.segments.first, maxPromptTokens >= prefix.tokens + 128 {
                for added in [16, 128] { probes.append(Probe(requests: [request(prompt: added, output: 2, after: prefix)])) }
            }
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
        var prefill: [[Int]: [Double]] = [:]
        var decode: [[Int]: (contexts: [Double], steps: [Double])] = [:]
        for (probe, observed) in zip(probes, observations) {
            let batch = observed.count
            guard batch > 0, batch == probe.requests.count else { continue }
            if batch == 1, let only = observed.first, only.ttft.isFinite, only.ttft > 0 {
                let cached = min(max(0, only.cachedTokens ?? 0), max(0, only.promptTokens - 1))
                let computed = max(1, only.promptTokens - cached)
                if only.completionTokens <= 2 { prefill[[computed, cached], default: []].append(only.ttft) }
            }
            let steps = observed.compactMap(\.tpot).filter { $0.isFinite && $0 > 0 }
            guard steps.count == batch, observed.allSatisfy({ $0.completionTokens > 8 }) else { continue }
            let context = observed.reduce(0) { $0 + $1.promptTokens + $1.completionTokens / 2 }
            // Key by (batch, context rounded to 16 tokens) so repeats of a probe meet.
            decode[[batch, context / 16], default: ([], [])].contexts.append(Double(context))
            decode[[batch, context / 16], default: ([], [])].steps.append(contentsOf: steps)
        }
        let prefillPoints = prefill.map { (computed: Double($0.key[0]), cached: Double($0.key[1]), y: median($0.value)) }
        let decodePoints = decode.map { DecodePoint(batch: $0.key[0], context: median($0.value.contexts), step: median($0.value.steps)) }
        // Prefill: overhead + computed / rate + attention × computed × (cached + computed / 2) (each computed token
        // attends to the cached prefix and to the computed ones before it), the simulator's own terms.
        // Both fits weigh each point by its size (relative error), as the validation's MAPE does: otherwise the longest
        // prompts decide the fit, and every short prompt's overhead is off by the error they leave.
        guard
            let prefillFit = fitRelative(
                prefillPoints.map { [1, $0.computed, $0.computed * ($0.cached + $0.computed / 2)] }, prefillPoints.map(\.y),
                dropOrder: [2, 0]),
            prefillFit[1] > 0,
            let step = fitRelative(
                decodePoints.map { [1, Double($0.batch), $0.context] }, decodePoints.map(\.step), dropOrder: [2, 1])
        else { return nil }
        let node = NodeProfile(
            model: model, prefillTokensPerSecond: 1 / prefillFit[1], prefillOverheadSeconds: prefillFit[0],
            decodeBaseSeconds: step[0], decodePerSequenceSeconds: step[1], maxBatch: slots, linkRTTSeconds: 0)
        return ValidationProfile(node: node, decodeSecondsPerContextToken: step[2], prefillSecondsPerContextToken: prefillFit[2])
    }

    /// ``fitNonNegative(_:_:dropOrder:)`` minimising relative rather than absolute errors (each row divided by its
    /// value); values must be positive.
    static func fitRelative(_ rows: [[Double]], _ values: [Double], dropOrder: [Int]) -> [Double]? {
        guard values.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        return fitNonNegative(
            zip(rows, values).map { row, value in row.map { $0 / value } }, values.map { _ in 1 }, dropOrder: dropOrder)
    }

    /// Least squares over the columns of `rows`, coefficients kept ≥ 0: a negative one is dropped (set to 0) and the
    /// rest refitted; when the points cannot tell every column apart, columns go in `dropOrder` first.
    static func fitNonNegative(_ rows: [[Double]], _ values: [Double], dropOrder: [Int]) -> [Double]? {
        guard let width = rows.first?.count, width > 0 else { return nil }
        var use = [Bool](repeating: true, count: width)
        while true {
            let columns = (0..<width).filter { use[$0] }
            guard !columns.isEmpty else { return nil }
            if let solution = leastSquares(rows.map { row in columns.map { row[$0] } }, values) {
                if let negative = zip(columns, solution).first(where: { $0.1 < 0 })?.0 {
                    use[negative] = false
                    continue
                }
                var coefficients = [Double](repeating: 0, count: width)
                for (column, value) in zip(columns, solution) { coefficients[column] = value }
                return coefficients
            }
            guard let drop = dropOrder.first(where: { use[$0] }) ?? columns.last else { return nil }
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

    static func median(_ values: [Double]) -> Double {
        ValidationComparison.percentile(of: values, 0.5)
    }
}
