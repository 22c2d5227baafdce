import Foundation
import HearthSim
import Testing

/// Runs a scenario file and prints the text report, the wall time and the peak resident memory (and writes
/// report.html/.json/.csv when asked). Off by default:
/// `HEARTH_PLAN_FIGURES=1 [HEARTH_PLAN_SCENARIO=examples/….toml] [HEARTH_PLAN_SCALE=1] [HEARTH_PLAN_DURATION=…]
///  [HEARTH_PLAN_WARMUP=…] [HEARTH_PLAN_HOURS=1|24] [HEARTH_PLAN_SEED=…] [HEARTH_PLAN_RATE=…] [HEARTH_PLAN_THREADS=2] [HEARTH_PLAN_OUT=/tmp/plan]
///  HEARTH_CORE_ONLY=1 swift test --scratch-path .build-core -c release -Xswiftc -enable-testing --filter PlannerFigures`.
/// The same code as `hearth plan`, for when the `hearth` executable cannot be built.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_PLAN_FIGURES"] == "1")) struct PlannerFigures {
    @Test func scenarioFigures() throws {
        let env = ProcessInfo.processInfo.environment
        let path = env["HEARTH_PLAN_SCENARIO"] ?? "examples/plan-home-vs-datacentre.toml"
        var scenario = try Scenario.read(path: path)
        if let scale = Double(env["HEARTH_PLAN_SCALE"] ?? "") { scenario.scale = scale }
        if let duration = Double(env["HEARTH_PLAN_DURATION"] ?? "") { scenario.durationSeconds = duration }
        if let warmup = Double(env["HEARTH_PLAN_WARMUP"] ?? "") { scenario.warmupSeconds = warmup }
        if let hours = Int(env["HEARTH_PLAN_HOURS"] ?? "") { scenario.hours = hours }
        if let rate = Double(env["HEARTH_PLAN_RATE"] ?? "") { scenario.demand.ratePerSecond = rate }
        if let seed = UInt64(env["HEARTH_PLAN_SEED"] ?? "") { scenario.seed = seed }
        let threads = Int(env["HEARTH_PLAN_THREADS"] ?? "") ?? ProcessInfo.processInfo.activeProcessorCount
        let start = Date()
        let report = try Planner(scenario: scenario, showProgress: env["HEARTH_PLAN_PROGRESS"] == "1", threads: threads).run()
        let wall = Date().timeIntervalSince(start)
        print(PlanRenderer.text(report))
        print(String(format: "wall %.1f s on %d threads, peak RSS %@", wall, threads, Self.peakRSS()))
        if let out = env["HEARTH_PLAN_OUT"] {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            for (name, contents) in try PlanRenderer.files(report) {
                try contents.write(toFile: out + "/" + name, atomically: true, encoding: .utf8)
            }
        }
    }

    /// The process's peak resident set (VmHWM from /proc/self/status, Linux).
    static func peakRSS() -> String {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return "unknown" }
        return line.dropFirst("VmHWM:".count).trimmingCharacters(in: .whitespaces)
    }
}
