import Foundation

/// A self-contained HTML report of a ``PlanReport``: tables and inline SVG charts, no scripts, no network.
public enum PlanHTML {
    public static func render(_ report: PlanReport) -> String {
        let e = SVGChart.escape
        let f = PlanRenderer.f, pct = PlanRenderer.pct, ms = PlanRenderer.ms
        let names = report.deployments.map(\.name)
        var h = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hearth plan: \(e(report.scenario))</title>
            <style>body{font-family:system-ui,sans-serif;margin:24px;max-width:1150px;color:#222}table{border-collapse:collapse;margin:8px 0 18px}
            td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
            .charts{display:flex;flex-wrap:wrap;gap:12px}.note{color:#555;font-size:13px}svg{border:1px solid #ddd}</style></head><body>
            <h1>Hearth plan: \(e(report.scenario))</h1>
            <p class="note">\(report.requests) requests counted over \(window(report)) (\(f(report.demand_rps, 0)) req/s at the busy hour
            at full scale, simulated at scale \(report.scale)); seed \(report.seed); scheduler \(e(report.policy));
            model \(e(report.model)). Users: \(e(report.users.joined(separator: ", "))). Latency and SLO figures come from the simulated fleet;
            power, grid, fault and cost figures are at full scale. Assumptions and sources: docs/PLANNER.md.</p><ul class="note">
            """
        for t in report.traces {
            h += "<li>\(e(t.path)) (\(e(t.format)), \(pct(t.share)) of requests, \(t.requests))"
            if let g = t.generated_from { h += " <b>file absent: generated from the published statistics of \(e(g))</b>" }
            h += "</li>"
        }
        h += "</ul><h2>Summary</h2><table><tr><th>deployment</th><th>GPUs</th><th>nodes</th><th>SLO attainment</th><th>goodput (req/s)</th>"
        h +=
            "<th>TTFT p50</th><th>TTFT p99</th><th>TPOT p50</th><th>TPOT p99</th><th>RTT p50 / p99</th><th>kWh per Mtok</th><th>peak added (MW)</th>"
        h += "<th>capped</th><th>drained</th><th>served / refused / lost</th><th>USD per Mtok</th></tr>"
        for d in report.deployments {
            h +=
                "<tr><td>\(e(d.name))</td><td>\(d.gpus) \(e(d.gpu))</td><td>\(d.nodes) (\(d.gpus_per_node)/node)</td><td>\(pct(d.slo_attainment))</td>"
            h +=
                "<td>\(f(d.goodput_rps, 1))</td><td>\(ms(d.ttft_p50_ms))</td><td>\(ms(d.ttft_p99_ms))</td><td>\(ms(d.tpot_p50_ms))</td><td>\(ms(d.tpot_p99_ms))</td>"
            h +=
                "<td>\(ms(d.rtt_p50_ms)) / \(ms(d.rtt_p99_ms))</td><td>\(f(d.energy_kwh_per_million_tokens, 4))</td><td>\(f(d.peak_added_mw, 2))</td>"
            h +=
                "<td>\(pct(d.capped_share))</td><td>\(pct(d.drained_share))</td><td>\(d.served) / \(d.refused) / \(d.lost)</td><td>\(f(d.usd_per_million_tokens, 3))</td></tr>"
        }
        h += "</table>"

        // Charts.
        h += "<h2>Latency and SLOs</h2><div class=\"charts\">"
        h += SVGChart.lines(
            title: "Time to first token (CDF)", xLabel: "TTFT, ms (log scale)", yLabel: "share of served requests",
            series: report.deployments.map { .init(name: $0.name, points: $0.ttft_cdf.map { ($0[0], $0[1]) }) }, logX: true, yRange: 0...1,
            percentY: true)
        h += SVGChart.lines(
            title: "Time per output token (CDF)", xLabel: "TPOT, ms (log scale)", yLabel: "share of served requests",
            series: report.deployments.map { .init(name: $0.name, points: $0.tpot_cdf.map { ($0[0], $0[1]) }) }, logX: true, yRange: 0...1,
            percentY: true)
        let classes = Set(report.deployments.flatMap(\.classes.keys)).sorted()
        h += SVGChart.bars(
            title: "SLO attainment by task class", yLabel: "requests meeting TTFT and TPOT targets", categories: classes,
            series: report.deployments.map { d in (d.name, classes.map { d.classes[$0]?.slo_attainment ?? 0 }) }, percentY: true)
        h +=
            "</div><h3>Per class</h3><table><tr><th>deployment</th><th>class</th><th>requests</th><th>SLO attainment</th><th>goodput (req/s)</th><th>refused</th>"
        h += "<th>TTFT p50</th><th>TTFT p99</th><th>TPOT p50</th><th>TPOT p99</th></tr>"
        for d in report.deployments {
            for (name, c) in d.classes.sorted(by: { $0.key < $1.key }) {
                h +=
                    "<tr><td>\(e(d.name))</td><td>\(e(name))</td><td>\(c.requests)</td><td>\(pct(c.slo_attainment))</td><td>\(f(c.goodput_rps, 2))</td>"
                h +=
                    "<td>\(c.refused)</td><td>\(ms(c.ttft_p50_ms))</td><td>\(ms(c.ttft_p99_ms))</td><td>\(ms(c.tpot_p50_ms))</td><td>\(ms(c.tpot_p99_ms))</td></tr>"
            }
        }
        h += "</table>"

        h += "<h2>Grid</h2><div class=\"charts\">"
        var gridSeries = report.deployments.map { d in
            SVGChart.Series(name: d.name, points: d.hourly_added_mw.enumerated().map { (Double($0.offset), $0.element) })
        }
        for d in report.deployments {
            if let homes = d.hourly_homes_mw {
                gridSeries.append(
                    .init(name: "\(d.name): homes' load", points: homes.enumerated().map { (Double($0.offset), $0.element) }, dashed: true))
            }
        }
        if report.hours == 24 {
            h += SVGChart.lines(
                title: "Demand by hour of day", xLabel: "hour of day", yLabel: "share of the busy hour's request rate",
                series: [.init(name: "demand", points: report.hourly_demand_shape.enumerated().map { (Double($0.offset), $0.element) })],
                yRange: 0...1, percentY: true)
            h += SVGChart.lines(
                title: "SLO attainment by hour of day", xLabel: "hour of day", yLabel: "requests meeting TTFT and TPOT targets",
                series: report.deployments.map { d in
                    .init(
                        name: d.name,
                        points: d.hourly_slo_attainment.enumerated().filter { d.hourly_requests[$0.offset] > 0 }.map {
                            (Double($0.offset), $0.element)
                        })
                }, yRange: 0...1, percentY: true)
        }
        h += SVGChart.lines(
            title: "Demand added to the grid by hour of day", xLabel: "hour of day", yLabel: "MW (facility, full scale)", series: gridSeries
        )
        h +=
            "</div><table><tr><th>deployment</th><th>nameplate (MW)</th><th>peak added (MW)</th><th>peak at substation (MW)</th><th>transformer peak loading</th>"
        h +=
            "<th>most added on one transformer (kW)</th><th>home / transformer limit violations</th><th>capped</th><th>drained</th><th>interconnect queue (years)</th></tr>"
        for d in report.deployments {
            h +=
                "<tr><td>\(e(d.name))</td><td>\(f(d.nameplate_mw, 1))</td><td>\(f(d.peak_added_mw, 2))</td><td>\(f(d.peak_substation_mw, 2))</td>"
            h += "<td>\(d.transformer_peak_loading.map(pct) ?? "–")</td><td>\(d.transformer_peak_added_kw.map { f($0, 1) } ?? "–")</td>"
            h += "<td>\(d.home_limit_violations.map(String.init) ?? "–") / \(d.transformer_limit_violations.map(String.init) ?? "–")</td>"
            h += "<td>\(pct(d.capped_share))</td><td>\(pct(d.drained_share))</td><td>\(f(d.interconnect_queue_years, 1))</td></tr>"
        }
        h +=
            "</table><h2>Faults</h2><table><tr><th>deployment</th><th>thefts / year</th><th>outages / year</th><th>requests interrupted / year</th>"
        h += "<th>capacity down</th><th>in window: thefts / outages</th><th>in window: requests lost</th></tr>"
        for d in report.deployments {
            h +=
                "<tr><td>\(e(d.name))</td><td>\(f(d.thefts_per_year, 1))</td><td>\(f(d.outages_per_year, 0))</td><td>\(f(d.requests_interrupted_per_year, 0))</td>"
            h +=
                "<td>\(pct(d.capacity_down_share))</td><td>\(d.window_thefts) / \(d.window_outages)</td><td>\(d.window_requests_lost)</td></tr>"
        }
        h += "</table>"

        h += "<h2>Cost</h2><div class=\"charts\">"
        let parts = ["gpus", "nodes", "battery", "building", "energy", "maintenance", "sites", "theft"]
        h += SVGChart.bars(
            title: "Cost per million tokens", yLabel: "USD per million tokens", categories: names,
            series: parts.map { p in (p, report.deployments.map { $0.cost_breakdown[p] ?? 0 }) }, stacked: true)
        h += "</div><table><tr><th>deployment</th><th>capex (M USD)</th><th>annual cost (M USD)</th><th>tokens / year</th>"
        h += parts.map { "<th>\($0)</th>" }.joined() + "<th>USD per Mtok</th></tr>"
        for d in report.deployments {
            h +=
                "<tr><td>\(e(d.name))</td><td>\(f(d.capex_usd / 1e6, 1))</td><td>\(f(d.annual_cost_usd / 1e6, 2))</td><td>\(String(format: "%.3g", d.tokens_per_year))</td>"
            h += parts.map { "<td>\(f(d.cost_breakdown[$0] ?? 0, 4))</td>" }.joined() + "<td>\(f(d.usd_per_million_tokens, 3))</td></tr>"
        }
        h += "</table>"

        if let sweep = report.sweep {
            h += "<h2>Sensitivity: \(e(sweep.parameter)) of \(e(sweep.deployment))</h2><div class=\"charts\">"
            let p = sweep.points
            h += SVGChart.lines(
                title: "SLO attainment vs \(sweep.parameter)", xLabel: sweep.parameter, yLabel: "share of requests meeting targets",
                series: [.init(name: "SLO attainment", points: p.map { ($0.value, $0.slo_attainment) })], yRange: 0...1, percentY: true)
            h += SVGChart.lines(
                title: "Cost and energy vs \(sweep.parameter)", xLabel: sweep.parameter, yLabel: "USD or kWh per million tokens",
                series: [
                    .init(name: "USD per Mtok", points: p.map { ($0.value, $0.usd_per_million_tokens) }),
                    .init(name: "kWh per Mtok", points: p.map { ($0.value, $0.energy_kwh_per_million_tokens) }, dashed: true),
                ])
            h += SVGChart.lines(
                title: "Tail latency vs \(sweep.parameter)", xLabel: sweep.parameter, yLabel: "ms",
                series: [
                    .init(name: "TTFT p99", points: p.map { ($0.value, $0.ttft_p99_ms) }),
                    .init(name: "TPOT p99", points: p.map { ($0.value, $0.tpot_p99_ms) }, dashed: true),
                ])
            h +=
                "</div><table><tr><th>\(e(sweep.parameter))</th><th>nodes</th><th>SLO attainment</th><th>TTFT p99</th><th>TPOT p99</th><th>RTT p50</th>"
            h += "<th>kWh per Mtok</th><th>USD per Mtok</th><th>capped</th><th>drained</th></tr>"
            for x in p {
                h +=
                    "<tr><td>\(Planner.number(x.value))</td><td>\(x.nodes)</td><td>\(pct(x.slo_attainment))</td><td>\(ms(x.ttft_p99_ms))</td><td>\(ms(x.tpot_p99_ms))</td>"
                h +=
                    "<td>\(ms(x.rtt_p50_ms))</td><td>\(f(x.energy_kwh_per_million_tokens, 4))</td><td>\(f(x.usd_per_million_tokens, 3))</td>"
                h += "<td>\(pct(x.capped_share))</td><td>\(pct(x.drained_share))</td></tr>"
            }
            h += "</table>"
        }
        h +=
            "<p class=\"note\">Generated by <code>hearth plan</code>. Figures are deterministic for a scenario and seed.</p></body></html>\n"
        return h
    }

    static func window(_ report: PlanReport) -> String {
        let f = PlanRenderer.f
        return report.hours == 24
            ? "a simulated day: 24 hourly windows of \(f(report.duration_s, 1)) s at each hour's rate (\(f(report.warmup_s, 1)) s warm-up each, not counted)"
            : "\(f(report.duration_s, 1)) s of the busy hour (hour \(report.busy_hour); \(f(report.warmup_s, 1)) s warm-up, not counted)"
    }
}
