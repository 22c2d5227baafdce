import Foundation
import HearthCore
import HearthSim
import Testing

/// Prints the figures recorded in docs/BENCHMARKS.md. Off by default; run with
/// `HEARTH_SIM_FIGURES=1 HEARTH_CORE_ONLY=1 swift test --scratch-path .build-core -c release --filter BenchmarkFigures`.
/// Optional: HEARTH_SIM_TRACE, HEARTH_SIM_NODES, HEARTH_SIM_SCALE, HEARTH_SIM_JSON=1.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_SIM_FIGURES"] == "1")) struct BenchmarkFigures {
    @Test func replayFigures() throws {
        let env = ProcessInfo.processInfo.environment
        let path = env["HEARTH_SIM_TRACE"] ?? "/work/shared/traces/AzureLLMInferenceTrace_conv.csv"
        let nodes = Int(env["HEARTH_SIM_NODES"] ?? "") ?? 200
        let scales = (env["HEARTH_SIM_SCALE"] ?? "1").split(separator: ",").compactMap { Double($0) }
        let repeats = Int(env["HEARTH_SIM_REPEAT"] ?? "") ?? 1
        let trace = try TraceGenerator.readOrGenerate(path: path, seed: 1).repeated(repeats)
        for scale in scales {
            let report = Replay(
                trace: trace, nodes: nodes, policies: SchedulingPolicyKind.allCases, seed: 1,
                configuration: SimulationConfiguration(loadScale: scale)
            ).run()
            print(env["HEARTH_SIM_JSON"] == "1" ? try ReportRenderer.json(report) : ReportRenderer.text(report))
        }
    }

    @Test func decisionLatency() {
        let result = SchedulerBenchmark.decisionLatency(nodes: 10_000, decisions: 50_000)
        print(
            "decision latency, \(result.nodes) nodes, \(result.policy): p50 \(result.p50_us) µs, p99 \(result.p99_us) µs, mean \(result.mean_us) µs"
        )
    }
}

/// `HEARTH_SIM_THROUGHPUT=1`: 10,000 nodes × 1,000,000 generated requests (or HEARTH_SIM_NODES / HEARTH_SIM_REQUESTS).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_SIM_THROUGHPUT"] == "1")) struct ThroughputFigures {
    @Test func simulatorThroughput() {
        let env = ProcessInfo.processInfo.environment
        let nodes = Int(env["HEARTH_SIM_NODES"] ?? "") ?? 10_000
        let requests = Int(env["HEARTH_SIM_REQUESTS"] ?? "") ?? 1_000_000
        let scale = Double(env["HEARTH_SIM_SCALE"] ?? "") ?? 2000
        let r = SchedulerBenchmark.simulatorThroughput(nodes: nodes, requests: requests, loadScale: scale)
        print(
            "simulation: \(r.nodes) nodes, \(r.requests) requests, \(r.policy): \(r.wall_s) s wall, \(r.events) events, \(r.simulated_s) s simulated, SLO attainment \(r.slo_attainment)"
        )
    }
}
