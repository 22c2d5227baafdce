public import HearthCore

/// `hearth sim replay`: one trace, one fleet, several policies, one report.
public struct Replay: Sendable {
    public var trace: Trace
    public var nodes: Int
    public var fleet: FleetComposition
    public var policies: [SchedulingPolicyKind]
    public var seed: UInt64
    public var configuration: SimulationConfiguration
    public var showProgress: Bool

    public init(
        trace: Trace, nodes: Int, fleet: FleetComposition = .mixed, policies: [SchedulingPolicyKind], seed: UInt64 = 1,
        configuration: SimulationConfiguration = SimulationConfiguration(), showProgress: Bool = false
    ) {
        self.trace = trace
        self.nodes = nodes
        self.fleet = fleet
        self.policies = policies
        self.seed = seed
        self.configuration = configuration
        self.showProgress = showProgress
    }

    public func run() -> ReplayReport {
        let snapshots = fleet.build(nodes: nodes, seed: seed)
        var reports: [PolicyReport] = []
        for policy in policies {
            var simulator = Simulator(trace: trace, nodes: snapshots, policy: policy, configuration: configuration)
            var progress = ProgressReporter(
                label: policy.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0), isEnabled: showProgress)
            let result = simulator.run(progress: &progress)
            progress.finish()
            reports.append(ReportBuilder.policyReport(result))
        }
        return ReplayReport(
            trace: trace.path, format: trace.format.rawValue, generated_from: trace.generatedFrom, nodes: nodes,
            fleet: FleetComposition.census(snapshots), requests: trace.requests.count, load_scale: configuration.loadScale, seed: seed,
            duration_s: trace.duration / max(configuration.loadScale, 1e-9), policies: reports)
    }
}
