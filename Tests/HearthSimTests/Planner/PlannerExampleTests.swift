import Foundation
import FoundationXML
import HearthSim
import Testing

/// The example scenario, run end to end at a small scale on every `swift test`: its report files exist and are
/// well formed (what `hearth plan examples/plan-home-vs-datacentre.toml --out DIR` writes).
@Suite struct PlannerExampleTests {
    static let examplePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../examples/plan-home-vs-datacentre.toml").standardizedFileURL.path

    /// A 0.2 % model of the example (20 homes' worth of nodes per deployment), every hour of the day, 1 s counted per hour.
    static func smallReport() throws -> PlanReport {
        var scenario = try Scenario.read(path: examplePath)
        scenario.scale = 0.002
        scenario.durationSeconds = 1
        scenario.warmupSeconds = 0.5
        return try Planner(scenario: scenario, threads: 2).run()
    }

    @Test func exampleReportIsWrittenAndWellFormed() throws {
        let report = try Self.smallReport()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, contents) in try PlanRenderer.files(report) {
            try contents.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        func read(_ name: String) throws -> String {
            try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        }

        // The example is what the issue asks: a day, three deployments of 20,000 GPUs, the GPUs-per-node sweep.
        #expect(report.hours == 24)
        #expect(report.deployments.map(\.name) == ["homes", "5 x 20 MW", "1 GW campus"])
        #expect(report.deployments.allSatisfy { $0.gpus == 20_000 })
        #expect(report.deployments[0].nodes == 10_000)
        #expect(report.sweep?.points.map(\.value) == [1, 2, 4, 8])
        #expect(
            report.traces.map { URL(fileURLWithPath: $0.path).lastPathComponent }.sorted() == [
                "AzureLLMInferenceTrace_code.csv", "AzureLLMInferenceTrace_conv.csv",
            ])
        for d in report.deployments {
            #expect(d.requests == report.requests)
            #expect(d.served + d.refused + d.lost == d.requests)
        }
        let homes = report.deployments[0]
        #expect(homes.home_limit_violations == 0)
        #expect(homes.transformer_limit_violations == 0)

        // JSON: parses, and decodes back to the same report.
        let json = try read("report.json")
        #expect(try JSONSerialization.jsonObject(with: Data(json.utf8)) is [String: Any])
        #expect(try JSONDecoder().decode(PlanReport.self, from: Data(json.utf8)) == report)

        // CSV: the header, one row per deployment, then the sweep block; every row as wide as its header.
        let csv = try read("report.csv")
        let blocks = csv.components(separatedBy: "\n\n")
        #expect(blocks.count == 2)
        let rows = blocks[0].split(separator: "\n").map { Self.csvFields(String($0)) }
        #expect(rows.first?.prefix(4) == ["deployment", "kind", "gpus", "nodes"])
        #expect(rows.count == 1 + report.deployments.count)
        #expect(rows.allSatisfy { $0.count == rows[0].count })
        let sweepRows = blocks[1].split(separator: "\n").map { Self.csvFields(String($0)) }
        #expect(sweepRows.first?.prefix(3) == ["sweep_deployment", "parameter", "value"])
        #expect(sweepRows.count == 5)
        #expect(sweepRows.allSatisfy { $0.count == sweepRows[0].count })

        // HTML: a whole document, no scripts, and every chart a well-formed SVG with a title, axis labels with
        // units, tick labels and a legend naming what is drawn.
        let html = try read("report.html")
        #expect(html.hasPrefix("<!doctype html>"))
        #expect(html.hasSuffix("</html>\n"))
        #expect(!html.contains("<script"))
        let svgs = Self.svgs(in: html)
        let titles = svgs.map(\.title)
        for expected in [
            "Time to first token (CDF)", "Time per output token (CDF)", "SLO attainment by task class", "SLO attainment by hour of day",
            "Demand added to the grid by hour of day", "Cost per million tokens", "SLO attainment vs gpus_per_node",
        ] {
            #expect(titles.contains(expected), "no chart '\(expected)' in \(titles)")
        }
        for svg in svgs {
            #expect(svg.parsed, "\(svg.title): not well-formed XML")
            #expect(svg.lines >= 2, "\(svg.title): no axes")
            #expect(svg.texts.count >= 5, "\(svg.title): too few labels")
        }
        let ttft = try #require(svgs.first { $0.title == "Time to first token (CDF)" })
        #expect(ttft.texts.contains("TTFT, ms (log scale)"))
        #expect(ttft.texts.contains("share of served requests"))
        for name in report.deployments.map(\.name) { #expect(ttft.texts.contains(name), "legend lacks \(name)") }
        let grid = try #require(svgs.first { $0.title == "Demand added to the grid by hour of day" })
        #expect(grid.texts.contains("MW (facility, full scale)"))
        #expect(grid.texts.contains("hour of day"))
        let cost = try #require(svgs.first { $0.title == "Cost per million tokens" })
        #expect(cost.texts.contains("USD per million tokens"))
        for part in ["gpus", "energy", "building"] { #expect(cost.texts.contains(part)) }
        let sweep = try #require(svgs.first { $0.title == "SLO attainment vs gpus_per_node" })
        #expect(sweep.texts.contains("gpus_per_node"))
        #expect(sweep.texts.contains("8"))
    }

    /// Splits a CSV line (fields with commas are double-quoted).
    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        for c in line {
            if c == "\"" {
                quoted.toggle()
            } else if c == ",", !quoted {
                fields.append(field)
                field = ""
            } else {
                field.append(c)
            }
        }
        fields.append(field)
        return fields
    }

    struct SVG {
        var title = ""
        var texts: [String] = []
        var lines = 0
        var parsed = false
    }

    /// Each `<svg>…</svg>` of the page, parsed as XML.
    static func svgs(in html: String) -> [SVG] {
        var out: [SVG] = []
        var rest = html[...]
        while let start = rest.range(of: "<svg "), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
            let source = String(rest[start.lowerBound..<end.upperBound])
            let collector = SVGCollector()
            let parser = XMLParser(data: Data(source.utf8))
            parser.delegate = collector
            var svg = SVG()
            svg.parsed = parser.parse()
            svg.texts = collector.texts
            svg.lines = collector.lines
            svg.title = collector.texts.first ?? ""
            out.append(svg)
            rest = rest[end.upperBound...]
        }
        return out
    }

    final class SVGCollector: NSObject, XMLParserDelegate {
        var texts: [String] = []
        var lines = 0
        private var current: String?

        func parser(
            _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            if elementName == "text" { current = "" }
            if elementName == "line" { lines += 1 }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { current? += string }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            if elementName == "text", let text = current {
                texts.append(text)
                current = nil
            }
        }
    }
}

/// Issue 15: the node as built (16 GPUs as eight replicas sharing one 12.5 kW node and its battery) against data
/// centres of the same GPUs, and the vendor's 100 MW comparison, at a small scale.
@Suite struct NodeAsBuiltPlanTests {
    static let examplePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../examples/plan-node-as-built.toml").standardizedFileURL.path

    @Test func theNodeAsBuiltIsComparedAtTheSameGPUsAndAtTheVendorsPower() throws {
        var scenario = try Scenario.read(path: Self.examplePath)
        scenario.scale = 0.002
        scenario.hours = 1
        scenario.durationSeconds = 1
        scenario.warmupSeconds = 0.5
        let homesDeployment = try #require(scenario.deployments.first)
        #expect(homesDeployment.nodeFullWatts == 12_500, "16 × 600 W of GPUs and a 2.9 kW host")
        let report = try Planner(scenario: scenario, threads: 2).run()
        #expect(report.deployments.map(\.name) == ["homes (node as built)", "10 x 20 MW", "1 GW campus", "100 MW data centre"])
        let homes = report.deployments[0]
        #expect(homes.nodes == 8_000 && homes.gpus == 128_000 && homes.gpus_per_node == 16 && homes.replicas_per_node == 8)
        #expect(homes.battery_kwh == 15 && (homes.cost_breakdown["battery"] ?? 0) > 0)
        #expect(abs(homes.nameplate_mw - 100) < 1e-6, "8,000 × 12.5 kW")
        #expect(homes.home_limit_violations == 0 && homes.transformer_limit_violations == 0)
        #expect(report.deployments[1].gpus == 128_000 && report.deployments[2].gpus == 128_000)
        // The vendor's data centre: as many GPUs as 100 MW carries at PUE 1.3 (1,550 W per 2-GPU replica).
        let vendor = report.deployments[3]
        #expect(vendor.gpus == Int(100e6 / (1_550 * 1.3)) * 2)
        #expect(vendor.nameplate_mw <= 100)
        for d in report.deployments { #expect(d.served + d.refused + d.lost == d.requests) }
        #expect(report.sweep?.points.map(\.value) == [1, 2, 4])
    }

    @Test func replicasMustDivideANodesGPUs() {
        let text = """
            [scenario]
            name = "x"
            [demand]
            rate_rps = 10
            [[demand.trace]]
            path = "AzureLLMInferenceTrace_conv.csv"
            share = 1
            [[users]]
            name = "a"
            lat = 0
            lon = 0
            weight = 1
            [[deployment]]
            name = "homes"
            kind = "home-fleet"
            gpus_per_node = 16
            replicas_per_node = 3
            homes = 10
            """
        #expect { try Scenario.read(text: text, file: "x.toml") } throws: { "\($0)".contains("replicas_per_node") }
    }
}
