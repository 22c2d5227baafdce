import Foundation

/// Renders a ``ValidationReport`` as a Markdown table (text) or JSON.
public enum ValidationRenderer {
    public static func json(_ report: ValidationReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    public static func text(_ report: ValidationReport) -> String {
        let p = report.profile.node
        var lines = [
            "Simulator vs \(report.engineURL) (model \(report.model), \(report.profileSource) profile: prefill "
                + "\(format(p.prefillTokensPerSecond, 0)) tok/s + \(format(p.prefillOverheadSeconds * 1000, 1)) ms, decode step "
                + "\(format(p.decodeBaseSeconds * 1000, 1)) + \(format(p.decodePerSequenceSeconds * 1000, 1))×batch ms, "
                + "\(format(report.profile.decodeSecondsPerContextToken * 1e6, 2)) µs per context token, "
                + "\(p.maxBatch) slots, \(report.contextTokens) context tokens)",
            "",
            "| workload | clients | matched | TTFT MAPE | TTFT p50 real/sim (s) | TTFT p99 real/sim (s) | TPOT MAPE "
                + "| TPOT p50 real/sim (ms) | TPOT p99 real/sim (ms) | E2E MAPE | E2E p50 real/sim (s) | E2E p99 real/sim (s) "
                + "| engine time vs calibration, prefill/decode | calibrated-once MAPE TTFT/TPOT/E2E | baseline MAPE TTFT/TPOT/E2E |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in report.rows + (report.overall.map { [$0] } ?? []) {
            let clients = row.concurrency > 0 ? String(row.concurrency) : "all"
            lines.append(
                "| \(row.workload) | \(clients) | \(row.matched)/\(row.requests) | "
                    + cells(row.ttft, scale: 1, digits: 2) + " | " + cells(row.tpot, scale: 1000, digits: 1) + " | "
                    + cells(row.e2e, scale: 1, digits: 2) + " | " + speed(row.speed) + " | " + errors(row.calibratedOnce) + " | "
                    + errors(row.baseline) + " |")
        }
        return lines.joined(separator: "\n")
    }

    static func cells(_ metric: MetricComparison?, scale: Double, digits: Int) -> String {
        guard let m = metric else { return "n/a | n/a | n/a" }
        return "\(format(m.mape, 1)) % | \(format(m.realP50 * scale, digits))/\(format(m.simulatedP50 * scale, digits)) | "
            + "\(format(m.realP99 * scale, digits))/\(format(m.simulatedP99 * scale, digits))"
    }

    static func speed(_ speed: EngineSpeed?) -> String {
        guard let speed else { return "not checked" }
        return "\(format(speed.prefill, 2))×/\(format(speed.decode, 2))×"
    }

    static func errors(_ errors: ValidationErrors?) -> String {
        guard let e = errors else { return "n/a" }
        return [e.ttft, e.tpot, e.e2e].map { $0.map { format($0, 1) + " %" } ?? "n/a" }.joined(separator: " / ")
    }

    static func format(_ value: Double, _ digits: Int) -> String {
        value.isFinite ? String(format: "%.\(digits)f", value) : "n/a"
    }
}
