import ArgumentParser
import Foundation
import HearthSim

extension SimCommand {
    /// `hearth sim plan SCENARIO`: compare deployments (home fleet, data centres) on the same demand.
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare home fleets and data centres on the same demand (SLOs, latency, energy, grid, faults, cost).",
            discussion: """
                SCENARIO is a TOML-subset file (see examples/plan-home-vs-datacentre.toml and docs/PLANNER.md). Traces are \
                read at run time; an absent trace is replaced by the generator fitted to its published statistics, and the \
                report says so. Prints a text summary; --json prints the report as JSON; --html, --csv and --out write files.
                """
        )

        @Argument(help: "Scenario file.")
        var scenario: String

        @Option(help: "Override the scenario's seed.")
        var seed: UInt64?

        @Option(help: "Override the scenario's scale (1 = full size).")
        var scale: Double?

        @Option(help: "Override the simulated seconds of demand.")
        var duration: Double?

        @Option(help: "Write a self-contained HTML report (inline SVG charts) to this path.")
        var html: String?

        @Option(help: "Write the headline figures as CSV to this path.")
        var csv: String?

        @Option(help: "Write report.html, report.json and report.csv into this directory.")
        var out: String?

        @Flag(help: "Print the report as one JSON object on standard output instead of the text summary.")
        var json = false

        @Flag(help: "Do not draw progress bars on standard error.")
        var quiet = false

        func run() async throws {
            var loaded: Scenario
            do {
                loaded = try Scenario.read(path: scenario)
            } catch {
                throw ValidationError(error.description)
            }
            if let seed { loaded.seed = seed }
            if let scale {
                guard scale > 0 else { throw ValidationError("--scale must be positive") }
                loaded.scale = scale
            }
            if let duration {
                guard duration > 0 else { throw ValidationError("--duration must be positive") }
                loaded.durationSeconds = duration
            }
            let report = try Planner(scenario: loaded, showProgress: !quiet).run()
            for trace in report.traces where trace.generated_from != nil {
                FileHandle.standardError.write(
                    Data("note: \(trace.path) is absent; generated from the published statistics of \(trace.generated_from!)\n".utf8))
            }
            if let html { try PlanHTML.render(report).write(toFile: html, atomically: true, encoding: .utf8) }
            if let csv { try PlanRenderer.csv(report).write(toFile: csv, atomically: true, encoding: .utf8) }
            if let out {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                try PlanHTML.render(report).write(toFile: out + "/report.html", atomically: true, encoding: .utf8)
                try PlanRenderer.json(report, pretty: true).write(toFile: out + "/report.json", atomically: true, encoding: .utf8)
                try PlanRenderer.csv(report).write(toFile: out + "/report.csv", atomically: true, encoding: .utf8)
            }
            print(json ? try PlanRenderer.json(report) : PlanRenderer.text(report))
        }
    }
}
