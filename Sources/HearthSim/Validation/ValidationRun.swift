import HearthCore

/// `hearth sim validate` without its HTTP client: every workload at every load level, replayed against the engine
/// and through the simulator, compared request by request.
public struct ValidationRun: Sendable {
    public var workloads: [(name: String, requests: [ValidationRequest])]
    /// Concurrent clients per load level.
    public var concurrencies: [Int]
    public var profile: ValidationProfile
    /// Total context the engine holds (all slots): the simulated prefix cache's size.
    public var contextTokens: Int
    /// The simulator's settings; nil: ``ValidationSimulation/validationConfiguration(_:)`` of each level's profile.
    public var configuration: SimulationConfiguration?
    /// Checks the engine's speed before every level (nil, the default: the calibrated profile serves every level as it is).
    public var speedCheck: ValidationSpeedCheck?

    public init(
        workloads: [(name: String, requests: [ValidationRequest])], concurrencies: [Int], profile: ValidationProfile, contextTokens: Int,
        configuration: SimulationConfiguration? = nil, speedCheck: ValidationSpeedCheck? = nil
    ) {
        self.workloads = workloads
        self.concurrencies = concurrencies
        self.profile = profile
        self.contextTokens = contextTokens
        self.configuration = configuration
        self.speedCheck = speedCheck
    }

    /// Rows in workload-then-load order, the overall row, and what the engine did at every level (for
    /// ``compare(_:)`` to simulate again later); `progress` hears each step as it starts.
    public func run(client: any ValidationEngineClient, progress: @escaping @Sendable (String) -> Void = { _ in }) async
        -> (rows: [ValidationRow], overall: ValidationRow?, levels: [ValidationRecording.Level])
    {
        var levels: [ValidationRecording.Level] = []
        for workload in workloads {
            for concurrency in concurrencies {
                var speed: EngineSpeed?
                if let speedCheck {
                    let checked = await speedCheck.run(level: levels.count + 1, profile: profile, client: client)
                    progress("engine time vs calibration: prefill \(percent(checked.prefill)), decode \(percent(checked.decode))")
                    speed = checked
                }
                progress("\(workload.name) at concurrency \(concurrency): \(workload.requests.count) requests")
                // Fresh text per level: what an earlier level left in the engine's cache must not help this one.
                let requests = Self.salted(workload.requests, level: levels.count + 1)
                let observations = await ValidationReplayer(concurrency: concurrency).run(requests, client: client) { request, error in
                    progress("request \(request.id) of \(request.workload) failed: \(error)")
                }
                levels.append(
                    ValidationRecording.Level(
                        workload: workload.name, concurrency: concurrency, requests: requests, observations: observations, speed: speed))
            }
        }
        let (rows, overall) = compare(levels)
        return (rows, overall, levels)
    }

    /// Simulates every level's requests as the engine received them and compares, request by request: rows in the
    /// levels' order and the overall row.
    public func compare(_ levels: [ValidationRecording.Level]) -> (rows: [ValidationRow], overall: ValidationRow?) {
        var rows: [ValidationRow] = []
        var allObservations: [ValidationObservation] = []
        var allSimulated: [Int: SimulatedTiming] = [:]
        var allBaseline: [Int: SimulatedTiming] = [:]
        var allOnce: [Int: SimulatedTiming] = [:]
        for (index, level) in levels.enumerated() {
            let (requests, observations) = (level.requests, level.observations)
            let speed = level.speed ?? .calibrated
            let levelProfile = speed.applied(to: profile)
            func simulated(_ profile: ValidationProfile, _ configuration: SimulationConfiguration) -> [Int: SimulatedTiming] {
                ValidationSimulation.simulate(
                    requests: requests, observations: observations, profile: profile.node, contextTokens: contextTokens,
                    configuration: configuration)
            }
            func errors(_ timings: [Int: SimulatedTiming]) -> ValidationRow {
                ValidationComparison.row(
                    workload: level.workload, concurrency: level.concurrency, requests: requests.count, observations: observations,
                    simulated: timings)
            }
            let timings = simulated(levelProfile, configuration ?? ValidationSimulation.validationConfiguration(levelProfile))
            var row = errors(timings)
            // The same requests through the simulator as it was before validation: prefill and decode overlap,
            // decode steps blind to context.
            let baseline = simulated(levelProfile, ValidationSimulation.baselineConfiguration())
            row.baseline = ValidationErrors(errors(baseline))
            // And with the profile as calibrated, blind to the engine's drift since.
            let once =
                level.speed == nil ? timings : simulated(profile, configuration ?? ValidationSimulation.validationConfiguration(profile))
            row.speed = level.speed
            if level.speed != nil { row.calibratedOnce = ValidationErrors(errors(once)) }
            rows.append(row)
            // Ids are unique per level only; the overall row keys them by level too.
            for observation in observations {
                guard let timing = timings[observation.id] else { continue }
                var keyed = observation
                keyed.id = (index + 1) &* 1_000_000 &+ observation.id
                allObservations.append(keyed)
                allSimulated[keyed.id] = timing
                allBaseline[keyed.id] = baseline[observation.id]
                allOnce[keyed.id] = once[observation.id]
            }
        }
        let total = rows.reduce(0) { $0 + $1.requests }
        var overall: ValidationRow?
        if !rows.isEmpty {
            overall = ValidationComparison.row(
                workload: "all", concurrency: 0, requests: total, observations: allObservations, simulated: allSimulated)
            overall?.pairs = []
            overall?.baseline = ValidationErrors(
                ValidationComparison.row(
                    workload: "all", concurrency: 0, requests: total, observations: allObservations, simulated: allBaseline))
            // Only a run whose speed was checked has an error "as calibrated" that differs from its own.
            if levels.contains(where: { $0.speed != nil }) {
                overall?.calibratedOnce = ValidationErrors(
                    ValidationComparison.row(
                        workload: "all", concurrency: 0, requests: total, observations: allObservations, simulated: allOnce))
            }
        }
        return (rows, overall)
    }

    private func percent(_ factor: Double) -> String {
        let change = Int(((factor - 1) * 100).rounded())
        return change >= 0 ? "+\(change) %" : "\(change) %"
    }

    /// `requests` with every segment key salted by `level`, so no two levels share prompt text.
    static func salted(_ requests: [ValidationRequest], level: Int) -> [ValidationRequest] {
        let salt = ValidationPromptText.mix(0x6C65_7665_6C, UInt64(truncatingIfNeeded: level))
        return requests.map { request in
            var copy = request
            copy.segments = request.segments.map { PromptSegment(key: $0.key ^ salt, tokens: $0.tokens) }
            return copy
        }
    }
}
