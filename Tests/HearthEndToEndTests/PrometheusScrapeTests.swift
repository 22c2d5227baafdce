import Foundation
import HearthCore
import HearthGateway
import NIOCore
import Testing

/// The gateway's metrics as operators use them (issue 16): Prometheus's own linter passes them, a real Prometheus
/// scrapes a running gateway, the shipped alert rules evaluate without error, and every query of the shipped Grafana
/// dashboard runs and finds the series it draws.
@Suite struct PrometheusScrapeTests {
    static let engine = TestEngine { request, _, emit in
        let chunks = request.stream ? TestEngine.sse(words: ["one ", "two ", "three"], request: request) : TestEngine.json(text: "ok")
        for chunk in chunks { try await emit(chunk) }
    }

    @Test func aRealPrometheusScrapesTheGatewayAndRunsTheShippedRulesAndDashboard() async throws {
        try await withTestFleet(nodes: [.init(id: "n1", engine: Self.engine), .init(id: "n2", engine: Self.engine)]) { fleet in
            for _ in 0..<3 {
                #expect(try await fleet.post(json: chatBody(model: "test-model", stream: true)).status == 200)
                #expect(try await fleet.post(json: chatBody(model: "test-model")).status == 200)
            }
            try await fleet.gateway.ledger.flush()
            let text = try await fleet.get("/metrics").body

            // Prometheus's conventions, by Prometheus's own linter: names, units, types and a HELP line per family.
            let lint = try await Self.promtoolCheckMetrics(text)
            #expect(lint.status == 0 && lint.problems.isEmpty, "promtool check metrics: \(lint.problems)")
            let families = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
            #expect(families.count >= 10)
            for family in families { #expect(text.contains("# HELP \(family) "), "no HELP for \(family)") }
            #expect(text.contains(#"hearth_slo_requests_total{class="chat",result="met"} 6"# + "\n"))
            #expect(text.contains(#"hearth_time_per_output_token_seconds_count{class="chat"} 3"# + "\n"))
            #expect(text.contains("hearth_usage_rows_written_total 6\n"))

            let metricsPort = try #require(fleet.addresses.metricsPort)
            try await TestPrometheus.with(scraping: "127.0.0.1:\(metricsPort)") { prometheus in
                try await prometheus.waitUntil("a scrape of the gateway") {
                    await prometheus.query(#"hearth_slo_requests_total{result="met"}"#)?.series.isEmpty == false
                }
                // Every shipped rule, alert or record, evaluated against the gateway's series without error.
                var rules: [[String: Any]] = []
                try await prometheus.waitUntil("a first evaluation of every rule") {
                    let groups = ((await prometheus.api("rules"))?.data as? [String: Any])?["groups"] as? [[String: Any]] ?? []
                    rules = groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
                    return !rules.isEmpty && rules.allSatisfy { ($0["health"] as? String) != "unknown" }
                }
                #expect(rules.count == 11)
                for rule in rules {
                    #expect(rule["health"] as? String == "ok", "rule \(rule["name"] ?? "?"): \(rule["lastError"] ?? "")")
                }
                // The recording rule's SLO attainment: every chat answer met its objective.
                try await prometheus.waitUntil("the SLO attainment record") {
                    await prometheus.query(#"hearth:slo_attainment:ratio_30m{class="chat"}"#)?.series.isEmpty == false
                }

                // Every panel's queries run; the ones drawing what the requests above produced find their series.
                let dashboard = try Self.dashboardQueries()
                #expect(dashboard.count >= 14)
                var drawn: Set<String> = []
                for expression in dashboard {
                    let answer = try #require(await prometheus.query(expression), "Prometheus did not answer \(expression)")
                    #expect(answer.status == "success", "\(expression): \(answer.error ?? "")")
                    if !answer.series.isEmpty { drawn.insert(expression) }
                }
                for family in [
                    "hearth_requests_total", "hearth_time_to_first_token_seconds", "hearth_time_per_output_token_seconds",
                    "hearth_slo_requests_total", "hearth_tokens_total", "hearth_usage_rows_written_total", "hearth_node_admitting",
                ] {
                    #expect(drawn.contains { $0.contains(family) }, "no panel drew \(family)")
                }
            }
        }
    }

    /// The `expr` of every target of every panel in `deploy/grafana/hearth-fleet.json`.
    static func dashboardQueries() throws -> [String] {
        let file = TestPrometheus.repository.appendingPathComponent("deploy/grafana/hearth-fleet.json")
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        let panels = dashboard["panels"] as? [[String: Any]] ?? []
        return panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
    }

    /// `promtool check metrics` on `text` (it reads standard input only): its status and every line it printed.
    static func promtoolCheckMetrics(_ text: String) async throws -> (status: Int32, problems: [String]) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-metrics-\(UUID().uuidString).txt")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let promtool = try WatchedProcess(
            try TestPrometheus.executable("promtool"), ["check", "metrics"], input: try FileHandle(forReadingFrom: file))
        // Its output is a few lines: read one stream to its end, then the other.
        let printed = StructuredLogTests.Lines()
        _ = await promtool.line { line in
            printed.append(line)
            return false
        }
        _ = await promtool.line(fromErrors: true) { line in
            printed.append(line)
            return false
        }
        let end = await promtool.termination()
        return (end.status, printed.all)
    }
}
