import ArgumentParser
import Foundation
import HearthSim

extension SimCommand {
    /// `hearth plan SCENARIO` (also `hearth sim plan`): compare deployments (home fleet, data centres) on the same demand.
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Compare home fleets and data centres on the same demand (SLOs, latency, energy, grid, faults, cost).",
            discussion: """
                SCENARIO is a TOML-subset file (see examples/plan-home-vs-datacentre.toml, docs/PLANNER.md and \
                docs/PLANNING.md). Traces are read at run time; an absent trace is replaced by the generator fitted to its \
                published statistics, and the report says so. Prints a summary table; --json prints the report as JSON; \
                --html, --csv and --out write files. A progress bar goes to standard error when it is a terminal.
                """
        )

        @Argument(help: "Scenario file.")
        var scenario: String

        @Option(help: "Override the scenario's seed.")
        var seed: UInt64?

        @Option(help: "Override the scenario's scale (1 = full size).")
        var scale: Double?

        @Option(help: "Override the counted seconds simulated per hour window.")
        var duration: Double?

        @Option(help: "Override the hours simulated: 1 (the busy hour) or 24 (a day).")
        var hours: Int?

        @Option(help: "Deployments evaluated at once (default: the processor count; the figures do not depend on it).")
        var threads: Int?

        @Option(help: "Write a self-contained HTML report (inline SVG charts) to this path.")
        var html: String?

        @Option(help: "Write the headline figures as CSV to this path.")
        var csv: String?

        @Option(help: "Write report.html, report.json and report.csv into this directory.")
        var out: String?

        @Flag(help: "Print the report as one JSON object on standard output instead of the summary.")
        var json = false

        @Flag(help: "Never draw the progress bar.")
        var quiet = false

        @Flag(help: "Draw the progress bar on standard error even when it is not a terminal.")
        var progress = false

        func run() async throws {
            // A scenario error (`file:line: field: message`) is printed as it is, without the usage text.
            var loaded = try Scenario.read(path: scenario)
            if let seed { loaded.seed = seed }
            if let scale {
                guard scale > 0 else { throw ValidationError("--scale must be positive") }
                loaded.scale = scale
            }
            if let duration {
                guard duration > 0 else { throw ValidationError("--duration must be positive") }
                loaded.durationSeconds = duration
            }
            if let hours {
                guard hours == 1 || hours == 24 else { throw ValidationError("--hours must be 1 or 24") }
                loaded.hours = hours
            }
            let showProgress = !quiet && (progress || isatty(STDERR_FILENO) != 0)
            let planner = Planner(
                scenario: loaded, showProgress: showProgress, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            let report = try planner.run()
            for trace in report.traces {
                if let source = trace.generated_from {
                    FileHandle.standardError.write(
                        Data("note: \(trace.path) is absent; generated from the published statistics of \(source)\n".utf8))
                }
            }
            if let html { try PlanHTML.render(report).write(toFile: html, atomically: true, encoding: .utf8) }
            if let csv { try PlanRenderer.csv(report).write(toFile: csv, atomically: true, encoding: .utf8) }
            if let out {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                for (name, contents) in try PlanRenderer.files(report) {
                    try contents.write(toFile: (out as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
                }
                FileHandle.standardError.write(Data("wrote \(out)/report.html, report.json, report.csv\n".utf8))
            }
            print(json ? try PlanRenderer.json(report) : PlanRenderer.text(report))
        }
    }
}
