import Foundation
import HearthSim
import Testing

/// Runs a scenario file and prints the text report (and writes HTML/JSON/CSV when asked). Off by default:
/// `HEARTH_PLAN_FIGURES=1 [HEARTH_PLAN_SCENARIO=examples/….toml] [HEARTH_PLAN_SCALE=0.01] [HEARTH_PLAN_OUT=/tmp/plan]
///  HEARTH_CORE_ONLY=1 swift test --scratch-path .build-core -c release --filter PlannerFigures`.
/// The same code as `hearth sim plan`, for when the `hearth` executable cannot be built.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_PLAN_FIGURES"] == "1")) struct PlannerFigures {
    @Test func scenarioFigures() throws {
        let env = ProcessInfo.processInfo.environment
        let path = env["HEARTH_PLAN_SCENARIO"] ?? "examples/plan-home-vs-datacentre.toml"
        var scenario = try Scenario.read(path: path)
        if let scale = Double(env["HEARTH_PLAN_SCALE"] ?? "") { scenario.scale = scale }
        if let duration = Double(env["HEARTH_PLAN_DURATION"] ?? "") { scenario.durationSeconds = duration }
        let start = Date()
        let report = try Planner(scenario: scenario, showProgress: env["HEARTH_PLAN_PROGRESS"] == "1").run()
        print(PlanRenderer.text(report))
        print(String(format: "wall %.1f s", Date().timeIntervalSince(start)))
        if let out = env["HEARTH_PLAN_OUT"] {
            try PlanHTML.render(report).write(toFile: out + ".html", atomically: true, encoding: .utf8)
            try PlanRenderer.json(report, pretty: true).write(toFile: out + ".json", atomically: true, encoding: .utf8)
            try PlanRenderer.csv(report).write(toFile: out + ".csv", atomically: true, encoding: .utf8)
        }
    }
}
