import Foundation

/// Renders a ``PlanReport`` as a text summary, JSON or CSV.
public enum PlanRenderer {
    public static func json(_ report: PlanReport, pretty: Bool = false) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    /// The files `hearth plan --out DIR` writes: name → contents (`report.html`, `report.json`, `report.csv`).
    public static func files(_ report: PlanReport) throws -> [String: String] {
        ["report.html": PlanHTML.render(report), "report.json": try json(report, pretty: true), "report.csv": csv(report)]
    }

    /// One row per deployment (and per sweep point), the headline figures.
    public static func csv(_ report: PlanReport) -> String {
        var out = "deployment,kind,gpus,nodes,slo_attainment,goodput_rps,ttft_p50_ms,ttft_p99_ms,tpot_p50_ms,tpot_p99_ms,rtt_p50_ms,"
        out += "kwh_per_mtok,peak_added_mw,peak_substation_mw,capped_share,drained_share,requests,served,refused,lost,usd_per_mtok\n"
        for d in report.deployments + [] {
            let fields: [String] = [
                d.name, d.kind, "\(d.gpus)", "\(d.nodes)", f(d.slo_attainment, 4), f(d.goodput_rps, 2), f(d.ttft_p50_ms, 1),
                f(d.ttft_p99_ms, 1),
                f(d.tpot_p50_ms, 1), f(d.tpot_p99_ms, 1), f(d.rtt_p50_ms, 1), f(d.energy_kwh_per_million_tokens, 3), f(d.peak_added_mw, 3),
                f(d.peak_substation_mw, 3), f(d.capped_share, 4), f(d.drained_share, 4), "\(d.requests)", "\(d.served)", "\(d.refused)",
                "\(d.lost)",
                f(d.usd_per_million_tokens, 4),
            ]
            out += fields.map { $0.contains(",") ? "\"\($0)\"" : $0 }.joined(separator: ",") + "\n"
        }
        if let sweep = report.sweep {
            out +=
                "\nsweep_deployment,parameter,value,nodes,slo_attainment,ttft_p99_ms,tpot_p99_ms,rtt_p50_ms,kwh_per_mtok,usd_per_mtok,capped_share,drained_share\n"
            for p in sweep.points {
                out +=
                    [
                        sweep.deployment, sweep.parameter, f(p.value, 4), "\(p.nodes)", f(p.slo_attainment, 4), f(p.ttft_p99_ms, 1),
                        f(p.tpot_p99_ms, 1),
                        f(p.rtt_p50_ms, 1), f(p.energy_kwh_per_million_tokens, 3), f(p.usd_per_million_tokens, 4), f(p.capped_share, 4),
                        f(p.drained_share, 4),
                    ].joined(separator: ",") + "\n"
            }
        }
        return out
    }

    public static func text(_ report: PlanReport) -> String {
        var out = "scenario \(report.scenario): \(report.requests) requests counted over "
        out +=
            report.hours == 24
            ? "24 hourly windows of \(f(report.duration_s, 1)) s (a day; \(f(report.warmup_s, 1)) s warm-up each) "
            : "\(f(report.duration_s, 1)) s of the busy hour (\(f(report.warmup_s, 1)) s warm-up) "
        out +=
            "(\(f(report.demand_rps * report.scale, 1)) req/s = \(f(report.demand_rps, 0)) × scale \(report.scale)), seed \(report.seed), \(report.policy), \(report.model)\n"
        for t in report.traces {
            out += "  trace \(t.path) (\(t.format), \(pct(t.share)) of requests, \(t.requests))"
            if let g = t.generated_from { out += " FILE ABSENT: generated from the published statistics of \(g)" }
            out += "\n"
        }
        out += "  power, grid, fault and cost figures at full scale; latency from the simulated fleet\n\n"
        let header = [
            "deployment", "GPUs", "nodes", "SLO", "goodput/s", "TTFT p50", "TTFT p99", "TPOT p99", "RTT p50", "kWh/Mtok", "peak MW",
            "capped",
            "drained", "lost", "$/Mtok",
        ]
        var rows = [header]
        for d in report.deployments {
            rows.append([
                d.name, "\(d.gpus)", "\(d.nodes)", pct(d.slo_attainment), f(d.goodput_rps, 1), ms(d.ttft_p50_ms), ms(d.ttft_p99_ms),
                ms(d.tpot_p99_ms),
                ms(d.rtt_p50_ms), f(d.energy_kwh_per_million_tokens, 4), f(d.peak_added_mw, 2), pct(d.capped_share), pct(d.drained_share),
                "\(d.lost)", f(d.usd_per_million_tokens, 4),
            ])
        }
        out += table(rows)
        out += "\nper class (SLO attainment / goodput req/s):\n"
        let classes = Set(report.deployments.flatMap(\.classes.keys)).sorted()
        var classRows = [["deployment"] + classes]
        for d in report.deployments {
            classRows.append(
                [d.name] + classes.map { c in d.classes[c].map { "\(pct($0.slo_attainment)) / \(f($0.goodput_rps, 1))" } ?? "-" })
        }
        out += table(classRows)
        out += "\ngrid and faults:\n"
        for d in report.deployments {
            out +=
                "  \(d.name): nameplate \(f(d.nameplate_mw, 1)) MW, peak added \(f(d.peak_added_mw, 2)) MW, peak at substation \(f(d.peak_substation_mw, 2)) MW"
            if let loading = d.transformer_peak_loading {
                out += ", transformer peak \(pct(loading)) of rating (nodes add ≤ \(f(d.transformer_peak_added_kw ?? 0, 1)) kW on one)"
                out += ", violations home \(d.home_limit_violations ?? 0) / transformer \(d.transformer_limit_violations ?? 0)"
            }
            if d.interconnect_queue_years > 0 { out += ", interconnect queue \(f(d.interconnect_queue_years, 1)) y" }
            out +=
                "\n    faults: \(f(d.thefts_per_year, 1)) thefts/y, \(f(d.outages_per_year, 0)) outages/y, ~\(f(d.requests_interrupted_per_year, 0)) requests interrupted/y, "
            out +=
                "\(pct(d.capacity_down_share)) capacity down; in window: \(d.window_thefts) thefts, \(d.window_outages) outages, \(d.window_requests_lost) requests lost\n"
            let parts = d.cost_breakdown.sorted { $0.key < $1.key }.filter { $0.value > 0 }.map { "\($0.key) \(f($0.value, 3))" }.joined(
                separator: ", ")
            out += "    cost/Mtok \(f(d.usd_per_million_tokens, 3)) USD (\(parts)); capex \(f(d.capex_usd / 1e6, 1)) M USD\n"
        }
        if let sweep = report.sweep {
            out += "\nsweep: \(sweep.deployment), \(sweep.parameter)\n"
            var sweepRows = [
                [sweep.parameter, "nodes", "SLO", "TTFT p99", "TPOT p99", "RTT p50", "kWh/Mtok", "$/Mtok", "capped", "drained"]
            ]
            for p in sweep.points {
                sweepRows.append([
                    Planner.number(p.value), "\(p.nodes)", pct(p.slo_attainment), ms(p.ttft_p99_ms), ms(p.tpot_p99_ms), ms(p.rtt_p50_ms),
                    f(p.energy_kwh_per_million_tokens, 4), f(p.usd_per_million_tokens, 4), pct(p.capped_share), pct(p.drained_share),
                ])
            }
            out += table(sweepRows)
        }
        return out
    }

    static func table(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        let widths = first.indices.map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == 0
                    ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func f(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
    static func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
    static func ms(_ x: Double) -> String { x >= 10_000 ? String(format: "%.1fs", x / 1000) : String(format: "%.0fms", x) }
}
