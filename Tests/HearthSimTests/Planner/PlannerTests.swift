import Foundation
import HearthCore
import HearthSim
import Testing

@Suite struct ScenarioFileTests {
    static let minimal = """
        [scenario]
        name = "t"   # a comment
        seed = 7
        scale = 1
        duration_s = 30

        [demand]
        rate_rps = 20
        [[demand.trace]]
        path = "/nonexistent/AzureLLMInferenceTrace_conv.csv"

        [[users]]
        name = "A"
        lat = 40.0
        lon = -88.0

        [[users]]
        name = "B"
        lat = 42.0
        lon = -84.0
        weight = 0.5

        [[deployment]]
        name = "homes"
        kind = "home-fleet"
        gpu = "rtx-pro-6000"
        homes = 40
        gpus_per_node = 1
        homes_per_transformer = 4

        [[deployment]]
        name = "dc"
        kind = "datacentre"
        gpu = "rtx-pro-6000"
        gpus_per_node = 2
        gpus = 4
        [[deployment.site]]
        name = "far"
        distance_km = 800
        power_mw = 1
        """

    @Test func readsTheExampleFile() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../../examples/plan-home-vs-datacentre.toml")
        let scenario = try Scenario.read(path: url.standardizedFileURL.path)
        #expect(scenario.deployments.map(\.name) == ["homes", "5 x 20 MW", "1 GW campus"])
        #expect(scenario.deployments.allSatisfy { $0.totalGPUs == 20_000 })
        #expect(scenario.deployments[0].sites.count == scenario.users.count)  // homes where the users are
        #expect(scenario.sweep?.parameter == .gpusPerNode)
        #expect(scenario.sweep?.values == [1, 2, 4, 8])
    }

    @Test func readsTheSubset() throws {
        let s = try Scenario.read(text: Self.minimal, file: "t.toml")
        #expect(s.seed == 7)
        #expect(s.users.map(\.weight) == [1, 0.5])
        #expect(s.deployments[0].totalGPUs == 40)
        #expect(s.deployments[1].sites[0].distanceKm == 800)
        #expect(s.deployments[1].pue == Deployment.dataCentre(name: "x").pue)  // default kept
    }

    func error(_ text: String) -> PlanError? {
        do {
            _ = try Scenario.read(text: text, file: "bad.toml")
            return nil
        } catch {
            return error
        }
    }

    func line(of needle: String, in text: String) -> Int {
        (text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains(needle) } ?? -1) + 1
    }

    @Test func unknownKeyNamesFieldAndLine() throws {
        let text = Self.minimal.replacingOccurrences(of: "gpus_per_node = 1", with: "gpus_per_nod = 1")
        let e = try #require(error(text))
        #expect(e.code == .unknownKey)
        #expect(e.field == "deployment[0].gpus_per_nod")
        #expect(e.line == line(of: "gpus_per_nod", in: text))
        #expect(e.description.hasPrefix("bad.toml:\(e.line): deployment[0].gpus_per_nod"))
    }

    @Test func wrongTypeAndRange() throws {
        let text = Self.minimal.replacingOccurrences(of: "lat = 42.0", with: "lat = \"north\"")
        let e = try #require(error(text))
        #expect(e.code == .invalidValue)
        #expect(e.field == "users[1].lat")
        #expect(e.line == line(of: "\"north\"", in: text))

        let range = try #require(error(Self.minimal.replacingOccurrences(of: "rate_rps = 20", with: "rate_rps = -3")))
        #expect(range.field == "demand.rate_rps")
        #expect(range.code == .invalidValue)
    }

    @Test func inconsistentPowerIsAnError() throws {
        // 4 000 GPUs at ~1.5 kW each (host share, PUE) do not fit 1 MW.
        let text = Self.minimal.replacingOccurrences(of: "gpus = 4", with: "gpus = 4000")
        let e = try #require(error(text))
        #expect(e.code == .inconsistent)
        #expect(e.field == "deployment[1].gpus")
        #expect(e.line == line(of: "gpus = 4000", in: text))
        #expect(e.message.contains("MW"))
    }

    @Test func syntaxErrorsHaveLines() throws {
        let text = Self.minimal.replacingOccurrences(of: "seed = 7", with: "seed = { a = 1 }")
        let e = try #require(error(text))
        #expect(e.code == .syntax)
        #expect(e.line == 3)
        let unterminated = try #require(error(Self.minimal.replacingOccurrences(of: "name = \"t\"", with: "name = \"t")))
        #expect(unterminated.line == 2)
        let sweep = try #require(error(Self.minimal + "\n[sweep]\ndeployment = \"nope\"\nparameter = \"pue\"\nvalues = [1.1]\n"))
        #expect(sweep.field == "sweep.deployment")
        #expect(sweep.code == .inconsistent)
    }

    @Test func missingDeploymentsAndTraces() throws {
        let noTrace = Self.minimal.replacingOccurrences(
            of: "[[demand.trace]]\npath = \"/nonexistent/AzureLLMInferenceTrace_conv.csv\"\n", with: "")
        #expect(try #require(error(noTrace)).field == "demand.trace")
        let noSite = Self.minimal.replacingOccurrences(of: "[[deployment.site]]\nname = \"far\"\ndistance_km = 800\npower_mw = 1", with: "")
        #expect(try #require(error(noSite)).field == "deployment[1].site")
    }
}

@Suite struct PlannerTests {
    func scenario(_ edit: (inout Scenario) -> Void = { _ in }) throws -> Scenario {
        var s = try Scenario.read(text: ScenarioFileTests.minimal, file: "t.toml")
        edit(&s)
        return s
    }

    @Test func rttGrowsWithDistance() {
        var last = -1.0
        for km in [0.0, 10, 100, 500, 1000, 4000] {
            let rtt = NetworkModel.pathRTTms(km: km)
            #expect(rtt > last)
            last = rtt
        }
        // 1,000 km: 2 × 1,000 × 1.5 × 5 µs = 15 ms of propagation plus 12 hops × 0.1 ms each way.
        #expect(abs(NetworkModel.pathRTTms(km: 1000) - (15 + 1.2)) < 1e-9)
        // Chicago–Detroit great circle ≈ 383 km.
        #expect(abs(NetworkModel.distanceKm(lat1: 41.88, lon1: -87.63, lat2: 42.33, lon2: -83.05) - 383) < 5)
    }

    @Test func deterministicPerSeed() throws {
        let s = try scenario()
        let a = try Planner(scenario: s).run()
        let b = try Planner(scenario: s).run()
        #expect(a == b)
        let c = try Planner(scenario: try scenario { $0.seed = 8 }).run()
        #expect(c != a)
    }

    @Test func aDayIsTheSameOnOneThreadOrTwo() throws {
        let s = try scenario {
            $0.hours = 24
            $0.durationSeconds = 2
            $0.warmupSeconds = 1
            $0.sweep = Scenario.Sweep(deployment: "homes", parameter: .gpusPerNode, values: [1, 2])
        }
        let one = try Planner(scenario: s, threads: 1).run()
        let two = try Planner(scenario: s, threads: 2).run()
        #expect(one == two)
        // Every hour simulated, each at its own rate (20 req/s × the hour's share of the busy hour, 2 counted s).
        let expected = one.hourly_demand_shape.reduce(0) { $0 + 20 * $1 * 2 }
        #expect(one.hourly_demand_shape.count == 24)
        #expect(one.hourly_demand_shape[one.busy_hour] == 1)
        for d in one.deployments {
            #expect(d.hourly_requests.allSatisfy { $0 > 0 })
            #expect(abs(Double(d.requests) - expected) < 0.25 * expected)
            #expect(d.served + d.refused + d.lost == d.requests)
        }
    }

    @Test func warmupIsSimulatedButNotCounted() throws {
        let plain = try Planner(scenario: try scenario()).demandWindows()
        let warm = try Planner(scenario: try scenario { $0.warmupSeconds = 10 }).demandWindows()
        #expect(warm[0].requests.count > plain[0].requests.count)
        #expect(warm[0].requests.contains { $0.arrival < 10 })
        #expect(warm[0].counted == warm[0].requests.filter { $0.arrival >= 10 }.count)
        // The rate is the scenario's: 20 req/s for 30 counted seconds, within sampling noise of the trace.
        #expect(abs(Double(plain[0].counted) - 600) < 120)
    }

    @Test func everyRequestCountedOnceEvenWithFaults() throws {
        // Rates so high that nodes fail inside the 30 s window.
        let s = try scenario {
            $0.demand.ratePerSecond = 60
            for i in $0.deployments.indices {
                $0.deployments[i].theftPerNodeYear = 200_000
                $0.deployments[i].outagesPerNodeYear = 400_000
                $0.deployments[i].outageHours = 0.002
            }
        }
        let windows = try Planner(scenario: s).demandWindows()
        let counted = windows.reduce(0) { $0 + $1.counted }
        let report = try Planner(scenario: s).run()
        #expect(report.requests == counted)
        #expect(report.traces.reduce(0) { $0 + $1.requests } == counted)
        var sawLoss = false
        for d in report.deployments {
            #expect(d.requests == counted)
            #expect(d.hourly_requests.reduce(0, +) == d.requests)
            #expect(d.served + d.refused + d.lost == d.requests)
            #expect(d.classes.values.reduce(0) { $0 + $1.requests } == d.requests)
            #expect(d.window_requests_lost == d.lost)
            if d.window_thefts + d.window_outages > 0 { sawLoss = true }
        }
        #expect(sawLoss)
        #expect(report.deployments.contains { $0.lost > 0 })
    }

    @Test func farSiteAddsItsRoundTrip() throws {
        let report = try Planner(scenario: try scenario()).run()
        let homes = try #require(report.deployments.first { $0.name == "homes" })
        let dc = try #require(report.deployments.first { $0.name == "dc" })
        // 800 km away: ≥ 12 ms of fibre alone plus the data centre's 1 ms edge; homes: access ~18 ms.
        #expect(dc.rtt_p50_ms >= NetworkModel.pathRTTms(km: 800))
        var moved = try scenario()
        moved.deployments[1].sites[0].distanceKm = 3000
        let far = try #require(try Planner(scenario: moved).run().deployments.first { $0.name == "dc" })
        #expect(far.rtt_p50_ms > dc.rtt_p50_ms + 20)
        #expect(far.ttft_p50_ms > dc.ttft_p50_ms)
        #expect(homes.rtt_p50_ms > 0)
    }

    @Test func energyAccountingAddsUp() throws {
        let s = try scenario()
        let report = try Planner(scenario: s).run()
        for d in report.deployments {
            // Cost breakdown sums to the total; energy per token is positive and bounded by full draw.
            let sum = d.cost_breakdown.values.reduce(0, +)
            #expect(abs(sum - d.usd_per_million_tokens) < 1e-9 * max(1, sum))
            #expect(d.energy_kwh_per_million_tokens > 0)
            #expect(d.window_utilization >= 0 && d.window_utilization <= 1)
            // Hourly draw never above nameplate (facility, full scale), never below idle.
            #expect(d.hourly_added_mw.allSatisfy { $0 <= d.nameplate_mw + 1e-9 && $0 >= 0 })
        }
        // Data centre: the peak hour = idle + dynamic at the window's utilisation, × PUE (the window is the busy hour).
        let dc = try #require(report.deployments.first { $0.kind == "datacentre" })
        let dep = s.deployments[1]
        let expected =
            Double(dc.nodes) * (dep.nodeIdleWatts + (dep.nodeFullWatts - dep.nodeIdleWatts) * dc.window_utilization) * dep.pue / 1e6
        #expect(abs(dc.peak_added_mw - expected) < 1e-9)
    }

    @Test func homeFleetKeepsEveryPowerLimit() throws {
        let s = try scenario {
            $0.deployments[0].gpus = 64
            $0.deployments[0].gpusPerNode = 4
            $0.deployments[0].homesPerTransformer = 4
        }
        let homes = try #require(try Planner(scenario: s).run().deployments.first { $0.kind == "home-fleet" })
        #expect(homes.home_limit_violations == 0)
        #expect(homes.transformer_limit_violations == 0)
        #expect(try #require(homes.transformer_peak_loading) <= 1 + 1e-9)
        #expect(homes.capped_share + homes.drained_share <= 1)

        // The same over a whole day of windows, the fleet as the governors left it each hour.
        var day = s
        day.hours = 24
        day.durationSeconds = 2
        let daily = try #require(try Planner(scenario: day).run().deployments.first { $0.kind == "home-fleet" })
        #expect(daily.home_limit_violations == 0)
        #expect(daily.transformer_limit_violations == 0)
        #expect(try #require(daily.transformer_peak_loading) <= 1 + 1e-9)
    }

    @Test func sweepOverDistanceIsMonotonic() throws {
        let s = try scenario {
            $0.sweep = Scenario.Sweep(deployment: "dc", parameter: .distanceKm, values: [50, 500, 2000, 5000])
        }
        let sweep = try #require(try Planner(scenario: s).run().sweep)
        #expect(sweep.points.count == 4)
        for (a, b) in zip(sweep.points, sweep.points.dropFirst()) {
            #expect(b.rtt_p50_ms > a.rtt_p50_ms)
            #expect(b.slo_attainment <= a.slo_attainment + 1e-9)
        }
    }

    @Test func gpusPerNodeSweepKeepsTotalGPUs() throws {
        let d = try scenario().deployments[0]
        for n in [1.0, 2, 4, 8] {
            let v = d.with(.gpusPerNode, n)
            #expect(v.totalGPUs == 40)
            #expect(v.gpusPerNode == Int(n))
        }
    }

    @Test func outputsRender() throws {
        let s = try scenario { $0.sweep = Scenario.Sweep(deployment: "homes", parameter: .gpusPerNode, values: [1, 2]) }
        let report = try Planner(scenario: s).run()
        let html = PlanHTML.render(report)
        #expect(html.contains("<svg"))
        #expect(!html.contains("<script"))
        #expect(
            !html.contains("http://")
                || html.components(separatedBy: "http://").dropFirst().allSatisfy { $0.hasPrefix("www.w3.org/2000/svg") })
        let json = try PlanRenderer.json(report)
        let decoded = try JSONDecoder().decode(PlanReport.self, from: Data(json.utf8))
        #expect(decoded == report)
        #expect(PlanRenderer.csv(report).split(separator: "\n").count >= 1 + report.deployments.count)
        #expect(PlanRenderer.text(report).contains("homes"))
    }
}

@Suite struct SimulatorOutageTests {
    @Test func nodeDownLosesInFlightAndRequeuesWaiting() throws {
        let profile = NodeProfile(
            model: "m", prefillTokensPerSecond: 10_000, decodeBaseSeconds: 0.010, decodePerSequenceSeconds: 0.0005, maxBatch: 1,
            prefixCacheBlocks: 64, linkRTTSeconds: 0.02)
        let nodes = (0..<2).map {
            NodeSnapshot(id: NodeID("n\($0)"), models: [ServedModel(id: "m", contextTokens: 32_768)], profiles: [profile])
        }
        let requests = (0..<6).map { TraceRequest(arrival: Double($0) * 0.01, promptTokens: 100, outputTokens: 400) }
        var simulator = Simulator(
            trace: Trace(path: "t", format: .generated, requests: requests), nodes: nodes, policy: .roundRobin,
            configuration: SimulationConfiguration(outages: [NodeOutage(node: 0, start: 0.5)]))
        var progress = ProgressReporter(label: "t", isEnabled: false)
        let result = simulator.run(progress: &progress)
        let lost = result.outcomes.filter(\.lost)
        #expect(!lost.isEmpty)
        #expect(lost.allSatisfy { $0.node == 0 })
        // Nothing finishes on the stolen node after it went down; everything is counted once.
        #expect(result.outcomes.allSatisfy { $0.lost || $0.refused || $0.node == 1 || $0.arrival + $0.ttft + $0.tpot * 399 <= 0.5 + 1e-9 })
        let report = ReportBuilder.policyReport(result)
        #expect(Double(report.requests) * report.slo_attainment <= Double(result.outcomes.count - lost.count) + 1e-9)
    }
}
