public import HearthCore

/// Benchmarks behind `hearth sim bench`: one decision's latency, and simulator throughput.
public enum SchedulerBenchmark {
    public struct LatencyResult: Sendable, Codable {
        public var nodes: Int
        public var decisions: Int
        public var policy: String
        public var p50_us: Double
        public var p99_us: Double
        public var mean_us: Double
    }

    /// Times `decisions` decisions on a fleet of `nodes` nodes with random live load (seeded).
    public static func decisionLatency(nodes: Int, decisions: Int, policy: SchedulingPolicyKind = .sloAware, seed: UInt64 = 1)
        -> LatencyResult
    {
        var rng = SeededGenerator(seed: seed)
        let snapshots = FleetComposition.mixed.build(nodes: nodes, seed: seed)
        var fleet = FleetState(nodes: snapshots)
        for i in 0..<nodes {
            let running = Int(rng.next() % 64)
            fleet.setLoad(NodeLoad(runningSequences: running, prefillBacklogSeconds: rng.unit() * 0.5, asOf: 0), at: i)
            if rng.unit() < 0.3 { fleet.recordPrefix((0..<8).map { _ in rng.next() % 100_000 }, at: i) }
        }
        let requests = TraceGenerator(statistics: TraceGenerator.mooncakeConversation).generate(count: decisions, seed: seed)
        let classifier = TaskClassifier()
        let model = snapshots[0].models[0].id
        var scheduler = Scheduler(policy: policy)
        var samples: [Double] = []
        samples.reserveCapacity(decisions)
        let clock = ContinuousClock()
        var placed = 0
        for request in requests {
            let scheduling = SchedulingRequest(
                model: model,
                taskClass: classifier.classify(
                    declared: nil, promptTokens: request.promptTokens, maxOutputTokens: request.outputTokens, turns: request.turns),
                promptTokens: request.promptTokens, maxOutputTokens: request.outputTokens,
                prefixHashes: request.prefixHashes.map { $0 % 100_000 }, arrival: 0)
            let start = clock.now
            let decision = scheduler.decide(scheduling, fleet: fleet, now: 0)
            let elapsed = start.duration(to: clock.now)
            if decision.placement != nil { placed += 1 }
            samples.append(Double(elapsed.components.attoseconds) / 1e12 + Double(elapsed.components.seconds) * 1e6)
        }
        samples.sort()
        return LatencyResult(
            nodes: nodes, decisions: decisions, policy: policy.rawValue, p50_us: percentile(samples, 0.5),
            p99_us: percentile(samples, 0.99),
            mean_us: samples.reduce(0, +) / Double(max(1, samples.count)))
    }

    public struct ThroughputResult: Sendable, Codable {
        public var nodes: Int
        public var requests: Int
        public var policy: String
        public var wall_s: Double
        public var events: Int
        public var simulated_s: Double
        public var slo_attainment: Double
    }

    /// Simulates `requests` generated Azure-conversation requests on `nodes` mixed nodes, timing the wall clock.
    public static func simulatorThroughput(
        nodes: Int, requests: Int, loadScale: Double, policy: SchedulingPolicyKind = .sloAware, seed: UInt64 = 1, showProgress: Bool = false
    ) -> ThroughputResult {
        let trace = Trace(
            path: "generated", format: .generated, generatedFrom: TraceGenerator.azureConversation.name,
            requests: TraceGenerator(statistics: TraceGenerator.azureConversation).generate(count: requests, seed: seed))
        let snapshots = FleetComposition.mixed.build(nodes: nodes, seed: seed)
        let clock = ContinuousClock()
        let start = clock.now
        var simulator = Simulator(
            trace: trace, nodes: snapshots, policy: policy, configuration: SimulationConfiguration(loadScale: loadScale))
        var progress = ProgressReporter(label: "simulate", isEnabled: showProgress)
        let result = simulator.run(progress: &progress)
        progress.finish()
        let elapsed = start.duration(to: clock.now)
        let report = ReportBuilder.policyReport(result)
        return ThroughputResult(
            nodes: nodes, requests: requests, policy: policy.rawValue,
            wall_s: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, events: result.events,
            simulated_s: result.duration, slo_attainment: report.slo_attainment)
    }
}
