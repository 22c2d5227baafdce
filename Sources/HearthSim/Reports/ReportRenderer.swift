import Foundation

/// Renders a ``ReplayReport`` as a text table or as the one-line JSON object of `--json`.
public enum ReportRenderer {
    public static func json(_ report: ReplayReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    public static func text(_ report: ReplayReport) -> String {
        var out = "trace \(report.trace) (\(report.format)"
        if let generated = report.generated_from { out += "; FILE ABSENT, generated from published statistics of \(generated)" }
        out += ")\n"
        let fleet = report.fleet.sorted { $0.key < $1.key }.map { "\($0.value)×\($0.key)" }.joined(separator: ", ")
        out += "\(report.nodes) nodes (\(fleet)), \(report.requests) requests over \(fmt(report.duration_s, 1)) s"
        out += " (load scale \(fmt(report.load_scale, 2)), seed \(report.seed))\n\n"
        let header = [
            "policy", "class", "requests", "SLO att.", "goodput/s", "refused", "best-effort", "TTFT p50", "TTFT p99", "TPOT p50",
            "TPOT p99",
        ]
        var rows: [[String]] = [header]
        for policy in report.policies {
            rows.append([
                policy.policy, "all", "\(policy.requests)", pct(policy.slo_attainment), fmt(policy.goodput_rps, 2), "\(policy.refused)",
                "\(policy.best_effort)",
                msText(policy.ttft_p50_ms), msText(policy.ttft_p99_ms), msText(policy.tpot_p50_ms), msText(policy.tpot_p99_ms),
            ])
            for (name, c) in policy.classes.sorted(by: { $0.key < $1.key }) {
                rows.append([
                    "", name, "\(c.requests)", pct(c.slo_attainment), fmt(c.goodput_rps, 2), "\(c.refused)", "\(c.best_effort)",
                    msText(c.ttft_p50_ms),
                    msText(c.ttft_p99_ms), msText(c.tpot_p50_ms), msText(c.tpot_p99_ms),
                ])
            }
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            out +=
                row.enumerated().map { i, cell in
                    i < 2
                        ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                        : String(repeating: " ", count: widths[i] - cell.count) + cell
                }.joined(separator: "  ") + "\n"
        }
        return out
    }

    static func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
    static func pct(_ x: Double) -> String { String(format: "%.1f%%", x * 100) }
    static func msText(_ x: Double) -> String { x >= 10_000 ? String(format: "%.1fs", x / 1000) : String(format: "%.0fms", x) }
}
