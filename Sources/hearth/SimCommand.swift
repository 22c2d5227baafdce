import ArgumentParser
import Foundation
import HearthCore
import HearthSim

/// `hearth sim`: replay traces against a simulated fleet, and benchmark the scheduler.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Simulate a Hearth fleet on request traces.",
        subcommands: [Replay.self, Bench.self, Power.self, Plan.self, Validate.self]
    )

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay a trace against a simulated fleet under one or more scheduling policies.",
            discussion: """
                The trace format is detected from the file: Azure CSV (TIMESTAMP,ContextTokens,GeneratedTokens), \
                Mooncake JSONL (timestamp, input_length, output_length, hash_ids) or BurstGPT CSV. When the file is \
                absent, a generator fitted to the trace's published statistics stands in, and the report says so.
                """
        )

        @Option(help: "Trace file (Azure CSV, Mooncake JSONL or BurstGPT CSV).")
        var trace: String

        @Option(help: "Number of simulated nodes.")
        var nodes: Int = 200

        @Option(help: "Comma-separated policies: round-robin, least-loaded, prefix-affinity, slo-aware.")
        var policies: String = SchedulingPolicyKind.allCases.map(\.rawValue).joined(separator: ",")

        @Option(help: "Seed for the fleet's layout, link RTTs and any generated trace.")
        var seed: UInt64 = 1

        @Option(help: "Time-compress arrivals by this factor (2 = twice the trace's rate).")
        var loadScale: Double = 1

        @Option(help: "Play the trace this many times back to back.")
        var `repeat`: Int = 1

        @Option(help: "Fleet: mixed, cpu, l4, rtx-pro-6000 or h100.")
        var fleet: String = "mixed"

        @Option(
            help: ArgumentHelp(
                "When no node could meet a request's target even idle: strict (refuse, the default here) or best-effort (serve on the fastest node, as the gateway does by default; counted apart from met and refused).",
                valueName: "policy"))
        var sloPolicy: String = SLOPolicy.strict.rawValue

        @Option(help: "Requests to generate when the trace file is absent (default: one hour's worth).")
        var generate: Int?

        @Flag(help: "Print one JSON object on standard output.")
        var json = false

        @Flag(help: "Do not draw the progress bar on standard error.")
        var quiet = false

        func run() async throws {
            var kinds: [SchedulingPolicyKind] = []
            for name in policies.split(separator: ",") {
                guard let kind = SchedulingPolicyKind(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError(
                        "unknown policy '\(name)'; known: \(SchedulingPolicyKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                kinds.append(kind)
            }
            guard nodes > 0 else { throw ValidationError("--nodes must be positive") }
            guard loadScale > 0 else { throw ValidationError("--load-scale must be positive") }
            guard let admission = SLOPolicy(rawValue: sloPolicy) else {
                throw ValidationError("--slo-policy must be one of \(SLOPolicy.names)")
            }
            guard let composition = FleetComposition.named(fleet) else { throw ValidationError("unknown fleet '\(fleet)'") }
            let loaded = try TraceGenerator.readOrGenerate(path: trace, count: generate, seed: seed).repeated(max(1, `repeat`))
            if let source = loaded.generatedFrom {
                FileHandle.standardError.write(
                    Data(
                        "note: \(trace) is absent; generated \(loaded.requests.count) requests from the published statistics of \(source)\n"
                            .utf8))
            }
            var configuration = SimulationConfiguration(loadScale: loadScale)
            configuration.sloPolicy = admission
            let report = HearthSim.Replay(
                trace: loaded, nodes: nodes, fleet: composition, policies: kinds, seed: seed,
                configuration: configuration, showProgress: !quiet
            ).run()
            print(json ? try ReportRenderer.json(report) : ReportRenderer.text(report))
        }
    }

    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Benchmark one scheduling decision's latency and, with --simulate, the simulator's throughput."
        )

        @Option(help: "Nodes in the fleet.")
        var nodes: Int = 10_000

        @Option(help: "Decisions to time.")
        var decisions: Int = 100_000

        @Option(help: "Policy to time.")
        var policy: String = "slo-aware"

        @Flag(help: "Also simulate --requests generated requests on the fleet and report wall time.")
        var simulate = false

        @Option(help: "Requests for --simulate.")
        var requests: Int = 1_000_000

        @Option(help: "Load scale for --simulate (time compression of the generated Azure conversation arrivals).")
        var loadScale: Double = 2000

        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            guard let kind = SchedulingPolicyKind(rawValue: policy) else { throw ValidationError("unknown policy '\(policy)'") }
            let latency = SchedulerBenchmark.decisionLatency(nodes: nodes, decisions: decisions, policy: kind)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            if json {
                print(String(decoding: try encoder.encode(latency), as: UTF8.self))
            } else {
                print(
                    String(
                        format: "decision latency (%@, %d nodes, %d decisions): p50 %.1f µs, p99 %.1f µs, mean %.1f µs",
                        latency.policy, latency.nodes, latency.decisions, latency.p50_us, latency.p99_us, latency.mean_us))
            }
            guard simulate else { return }
            let throughput = SchedulerBenchmark.simulatorThroughput(
                nodes: nodes, requests: requests, loadScale: loadScale, policy: kind, showProgress: !json)
            if json {
                print(String(decoding: try encoder.encode(throughput), as: UTF8.self))
            } else {
                print(
                    String(
                        format: "simulation (%@, %d nodes, %d requests): %.1f s wall, %d events, %.1f s simulated, SLO attainment %.1f%%",
                        throughput.policy, throughput.nodes, throughput.requests, throughput.wall_s, throughput.events,
                        throughput.simulated_s, throughput.slo_attainment * 100))
            }
        }
    }

    struct Power: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay a week of home load with Hearth nodes under per-home, per-transformer and grid limits.",
            discussion: """
                Homes follow generated 1 s load profiles (several home types); each node's demand follows the request \
                trace (read at run time; a generator stands in when the file is absent); PowerGovernor, \
                TransformerAllocator and demand-response events keep every limit. See docs/POWER.md.
                """
        )

        @Option(help: "Homes (one node each).")
        var homes: Int = 1000

        @Option(help: "Distribution transformers (homes are shared among them).")
        var transformers: Int = 100

        @Option(help: "Days to simulate.")
        var days: Int = 7

        @Option(help: "Request trace that shapes node demand.")
        var trace: String = "/work/shared/traces/AzureLLMInferenceTrace_conv.csv"

        @Option(help: "Seed for homes, transformers, grid events and the fleet.")
        var seed: UInt64 = 1

        @Option(help: "Time step in seconds (each step takes the worst second of home load).")
        var step: Int = 60

        @Option(help: "Node full draw in kW (host + GPUs at maximum limit); 19.2 is a node at its 80 A cap.")
        var nodeKw: Double = 6

        @Option(
            help:
                "A node preset: xfra (the node as built: 16 RTX PRO 6000 GPUs, 12.5 kW, a 15 kWh battery; docs/PLANNING.md). Overrides --node-kw."
        )
        var node: String?

        @Option(help: "Each node's battery, kWh (0: none; with --node xfra, 15 unless given).")
        var batteryKwh: Double?

        @Option(help: "The battery's charge and discharge limit, kW (default 5).")
        var batteryKw: Double?

        @Flag(help: "Print one JSON object on standard output.")
        var json = false

        @Flag(help: "Do not draw the progress bar on standard error.")
        var quiet = false

        func run() async throws {
            guard homes > 0, transformers > 0, days > 0, step > 0, nodeKw > 0 else {
                throw ValidationError("--homes, --transformers, --days, --step and --node-kw must be positive")
            }
            if let node, node != "xfra" { throw ValidationError("--node must be xfra") }
            if let batteryKwh, !(batteryKwh.isFinite && batteryKwh >= 0 && batteryKwh <= 1_000) {
                throw ValidationError("--battery-kwh must be between 0 and 1000")
            }
            if let batteryKw, !(batteryKw.isFinite && batteryKw > 0 && batteryKw <= 1_000) {
                throw ValidationError("--battery-kw must be between 0 and 1000")
            }
            let loaded = try TraceGenerator.readOrGenerate(path: trace, seed: seed)
            if let source = loaded.generatedFrom {
                FileHandle.standardError.write(
                    Data("note: \(trace) is absent; generated requests from the published statistics of \(source)\n".utf8))
            }
            var configuration = PowerSimulation.Configuration(
                homes: homes, transformers: transformers, days: days, seed: seed, stepSeconds: step, nodeFullWatts: nodeKw * 1000)
            if node == "xfra" { configuration.useNodeAsBuilt() }
            if batteryKwh != nil || batteryKw != nil {
                let kilowattHours = batteryKwh ?? (configuration.battery?.capacityWattHours ?? 0) / 1_000
                configuration.battery =
                    kilowattHours > 0 ? NodeBattery.Configuration(kilowattHours: kilowattHours, kilowatts: batteryKw ?? 5) : nil
            }
            let report = PowerSimulation(configuration: configuration, trace: loaded, showProgress: !quiet && !json).run()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(
                    String(
                        format: "%d homes, %d transformers (%.0f kVA), %d days, %.1f kW nodes, step %d s", report.homes,
                        report.transformers,
                        report.transformer_kva_total, report.days, report.node_full_kw, report.step_s))
                print(
                    "home limit violations: \(report.home_limit_violations), transformer limit violations: \(report.transformer_limit_violations)"
                )
                print(
                    String(
                        format: "DR events met: %d of %d, least sustained cut in the nodes' grid import: %.0f%%", report.dr_events_met,
                        report.dr_events, report.dr_min_import_reduction * 100))
                if report.battery_kwh > 0 {
                    print(
                        String(
                            format: "battery %.0f kWh: %.2f cycles a day; full power %.1f%% of node-hours (%.1f%% without the battery)",
                            report.battery_kwh, report.battery_cycles_per_day, report.full_power_share * 100,
                            report.full_power_share_without_battery * 100))
                }
                print(
                    String(
                        format: "node-hours available: %.1f%% (capped %.1f%%), node energy per home: %.1f kWh",
                        report.node_hours_available_share * 100, report.node_hours_capped_share * 100, report.energy_kwh_per_home))
                print(
                    String(
                        format: "SLO attainment: %.1f%% (worst sample %.1f%%, tightest moment %.1f%%, uncapped at peak %.1f%%)",
                        report.slo_attainment * 100, report.slo_attainment_worst_sample * 100, report.slo_attainment_tightest * 100,
                        report.slo_attainment_uncapped * 100))
            }
        }
    }
}
