import Foundation
public import HearthCore

/// `hearth sim plan`: runs every deployment of a ``Scenario`` on the same demand through the real scheduler
/// and the discrete-event ``Simulator``, and the home fleets through ``PowerSimulation``, then prices them.
///
/// Model (docs/PLANNER.md has the reasoning and sources):
/// 1. **Demand.** Each trace is time-compressed (or repeated) to its share of `rate × scale` and cut to
///    `duration`; the mix is merged by arrival. Each request comes from a user centre drawn by weight.
/// 2. **Routing.** A request goes to the site with the least round trip from its centre (geo-DNS / anycast). Sites
///    do not spill over to each other (each is one ``Simulator`` run with its own gateway queue).
/// 3. **Latency.** A node's profile carries its access RTT plus the mean wide-area RTT of the users its site
///    serves (what the scheduler predicts with); each request's TTFT is then corrected to its own user's RTT,
///    plus exponential jitter and the prompt's transfer over the node's downlink.
/// 4. **Power.** Home fleets: a day of ``PowerSimulation`` (homes, transformers, governors, grid events) gives the
///    share of nodes drained and the cap at the busy hour; the replay runs on that constrained fleet. Energy
///    of the window: idle + (full − idle) × busy share × (0.45 + 0.55 × batch fill) per node (decode draws
///    ~45 % of board power; see docs/POWER.md), × PUE. The daily profile follows the first trace's hourly
///    token rate, with the simulated window as the busy hour.
/// 5. **Faults.** Thefts (node gone) and outages (node back after an exponential time) are drawn per node at
///    their yearly rates over the window and injected as ``NodeOutage``s; yearly expectations are reported too.
/// 6. **Cost.** Capex annualised with a capital recovery factor; opex: energy, maintenance, site payments, theft
///    replacements; divided by the tokens of a year at the daily profile.
public struct Planner: Sendable {
    public var scenario: Scenario
    public var showProgress: Bool

    public init(scenario: Scenario, showProgress: Bool = false) {
        self.scenario = scenario
        self.showProgress = showProgress
    }

    /// The merged demand of a scenario.
    public struct Demand: Sendable {
        public var requests: [TraceRequest]
        /// User centre of each request.
        public var centres: [Int]
        public var traces: [PlanReport.TraceInfo]
        /// Relative load by hour of day (max 1), from the first trace.
        public var hourlyShape: [Double]
    }

    public func run() throws -> PlanReport {
        let demand = try buildDemand()
        var deployments: [DeploymentReport] = []
        for deployment in scenario.deployments {
            deployments.append(evaluate(deployment, demand: demand))
        }
        var sweep: SweepReport?
        if let s = scenario.sweep, let base = scenario.deployments.first(where: { $0.name == s.deployment }) {
            var points: [SweepReport.Point] = []
            for value in s.values {
                let r = evaluate(base.with(s.parameter, value), demand: demand, label: "\(s.parameter.rawValue)=\(Self.number(value))")
                points.append(
                    .init(
                        value: value, nodes: r.nodes, slo_attainment: r.slo_attainment, ttft_p99_ms: r.ttft_p99_ms,
                        tpot_p99_ms: r.tpot_p99_ms,
                        rtt_p50_ms: r.rtt_p50_ms, energy_kwh_per_million_tokens: r.energy_kwh_per_million_tokens,
                        usd_per_million_tokens: r.usd_per_million_tokens, capped_share: r.capped_share, drained_share: r.drained_share))
            }
            sweep = SweepReport(deployment: s.deployment, parameter: s.parameter.rawValue, points: points)
        }
        return PlanReport(
            scenario: scenario.name, seed: scenario.seed, scale: scenario.scale, duration_s: scenario.durationSeconds,
            policy: scenario.policy.rawValue, model: scenario.model.id, demand_rps: scenario.demand.ratePerSecond,
            requests: demand.requests.count, traces: demand.traces, users: scenario.users.map(\.name), deployments: deployments,
            sweep: sweep)
    }

    static func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e9 ? String(Int(x)) : String(x) }

    // MARK: Demand

    public func buildDemand() throws -> Demand {
        let s = scenario
        let totalShare = s.demand.traces.reduce(0) { $0 + $1.share }
        var merged: [TraceRequest] = []
        var infos: [PlanReport.TraceInfo] = []
        var shape: [Double] = Array(repeating: 1, count: 24)
        for (i, source) in s.demand.traces.enumerated() {
            let trace = try TraceGenerator.readOrGenerate(path: source.path, seed: s.seed &+ UInt64(i))
            if i == 0 {
                let minutes = PowerSimulation.dailyUtilization(trace, peak: 1)
                shape = (0..<24).map { h in minutes[(h * 60)..<(h * 60 + 60)].reduce(0, +) / 60 }
                let top = shape.max() ?? 1
                shape = shape.map { top > 0 ? $0 / top : 1 }
            }
            let share = source.share / totalShare
            let target = s.demand.ratePerSecond * s.scale * share
            let native = Double(trace.requests.count) / max(trace.duration, 1e-9)
            let compression = target / max(native, 1e-12)
            let needed = s.durationSeconds * compression
            let copies = max(1, Int((needed / max(trace.duration, 1e-9)).rounded(.up)) + 1)
            let salt = UInt64(i + 1) &* 0xA24B_AED4_963E_E407
            var count = 0
            for var r in trace.repeated(copies).requests {
                r.arrival /= compression
                guard r.arrival < s.durationSeconds else { break }
                r.prefixHashes = r.prefixHashes.map { $0 ^ salt }
                r.sessionKey = r.sessionKey.map { $0 ^ salt }
                merged.append(r)
                count += 1
            }
            infos.append(
                .init(path: source.path, format: trace.format.rawValue, generated_from: trace.generatedFrom, share: share, requests: count))
        }
        merged.sort { $0.arrival < $1.arrival }
        var rng = SeededGenerator(seed: s.seed ^ 0x05E2_5C0E)
        let weights = s.users.map(\.weight)
        let total = weights.reduce(0, +)
        let centres = merged.map { _ -> Int in
            var x = rng.unit() * total
            for (i, w) in weights.enumerated() {
                if x < w { return i }
                x -= w
            }
            return weights.count - 1
        }
        return Demand(requests: merged, centres: centres, traces: infos, hourlyShape: shape)
    }

    // MARK: One deployment

    /// Runs one deployment on the demand.
    public func evaluate(_ d: Deployment, demand: Demand, label: String? = nil) -> DeploymentReport {
        let s = scenario
        let fullGPUs = d.totalGPUs
        let fullNodes = max(1, fullGPUs / d.gpusPerNode)
        // Nodes per site: largest remainder of the shares, at least one per site.
        let simNodes = max(d.sites.count, Int((Double(fullNodes) * s.scale).rounded()))
        let shareTotal = d.sites.reduce(0) { $0 + $1.share }
        var perSite = d.sites.map { max(1, Int(Double(simNodes) * $0.share / shareTotal)) }
        var spare = simNodes - perSite.reduce(0, +)
        var k = 0
        while spare > 0 {
            perSite[k % perSite.count] += 1
            spare -= 1
            k += 1
        }
        let nodeCount = perSite.reduce(0, +)
        let fullPerSim = Double(fullNodes) / Double(nodeCount)

        // Routing: each centre to its nearest site (by RTT).
        let siteOfCentre = s.users.map { user in
            d.sites.indices.min {
                NetworkModel.distanceKm(user, d.sites[$0], metroKm: d.metroKm)
                    < NetworkModel.distanceKm(user, d.sites[$1], metroKm: d.metroKm)
            }!
        }
        let pathRTT: [[Double]] = s.users.map { user in
            d.sites.map { NetworkModel.pathRTTms(km: NetworkModel.distanceKm(user, $0, metroKm: d.metroKm)) }
        }

        // Home power: a day of homes, transformers and governors.
        var power: PowerReport?
        var available = 1.0
        var speed = 1.0
        let busyHour = demand.hourlyShape.indices.max { demand.hourlyShape[$0] < demand.hourlyShape[$1] } ?? 0
        if d.kind == .homeFleet {
            var configuration = PowerSimulation.Configuration(
                homes: nodeCount, transformers: max(1, nodeCount / d.homesPerTransformer), days: 1, seed: s.seed, stepSeconds: 60,
                nodeFullWatts: d.nodeFullWatts,
                hostShare: (d.hostWattsPerNode + Double(d.gpusPerNode) * d.hostWattsPerGPU) / d.nodeFullWatts,
                idleShare: d.idleShare, peakUtilization: d.peakUtilization, fleet: .uniform(d.gpu, count: d.gpusPerNode))
            configuration.sloReplays = false
            let trace = Trace(path: s.demand.traces[0].path, format: .generated, requests: demand.requests)
            let report = PowerSimulation(configuration: configuration, trace: trace).run()
            power = report
            available = report.hourly_available_share[busyHour]
            speed = report.hourly_prefill_speed[busyHour]
        }

        // Per site: nodes, faults, a simulator run.
        var rng = SeededGenerator(seed: s.seed ^ fnv1a(d.name) ^ 0x51_7E5)
        var outcomes: [RequestOutcome] = []
        var userRTT: [Double] = []
        var busyFraction: [Double] = []
        var fill: [Double] = []
        var uplinkPeak = 0.0
        var thefts = 0
        var outagesCount = 0
        var requestIndex: [Int] = []
        let yearSeconds = 365.0 * 86_400
        let model = s.model
        let byteRate = 8.0  // bits per byte
        for (siteIndex, site) in d.sites.enumerated() {
            let mine = demand.requests.indices.filter { siteOfCentre[demand.centres[$0]] == siteIndex }
            // Mean wide-area RTT of the users this site serves (what the scheduler predicts with).
            let meanPath = mine.isEmpty ? 0 : mine.reduce(0.0) { $0 + pathRTT[demand.centres[$1]][siteIndex] } / Double(mine.count)
            var nodes: [NodeSnapshot] = []
            var nodeRTT: [Double] = []
            for i in 0..<perSite[siteIndex] {
                let access = d.accessRTTms * (d.kind == .homeFleet ? 0.6 + 0.8 * rng.unit() : 1)
                let rttMs = access + meanPath
                var profile = NodeProfile(gpu: d.gpu, count: d.gpusPerNode, model: model, linkRTTSeconds: rttMs / 1000)
                profile.powerCapFactor = speed
                // Drained at the busy hour (home fleets): the node is not in the fleet.
                if d.kind == .homeFleet, rng.unit() >= available { continue }
                nodes.append(
                    NodeSnapshot(
                        id: NodeID("\(site.name)-\(i)"), models: [ServedModel(id: model.id, contextTokens: model.contextTokens)],
                        profiles: [profile],
                        labels: ["site": site.name]))
                nodeRTT.append(rttMs)
            }
            guard !mine.isEmpty else { continue }
            let trace = Trace(path: site.name, format: .generated, requests: mine.map { demand.requests[$0] })
            guard !nodes.isEmpty else {
                for r in mine {
                    let q = demand.requests[r]
                    outcomes.append(
                        RequestOutcome(
                            taskClass: TaskClassifier().classify(
                                declared: nil, promptTokens: q.promptTokens, maxOutputTokens: q.outputTokens, turns: q.turns),
                            promptTokens: q.promptTokens, outputTokens: q.outputTokens, arrival: q.arrival, refused: true, node: -1,
                            ttft: 0, tpot: 0,
                            cachedTokens: 0, predictedTTFT: 0, predictedTPOT: 0, gatewayQueueSeconds: 0))
                    requestIndex.append(r)
                }
                continue
            }
            // Faults over the window at yearly rates.
            var outages: [NodeOutage] = []
            let window = s.durationSeconds
            for n in nodes.indices {
                if rng.unit() < d.theftPerNodeYear * window / yearSeconds {
                    outages.append(NodeOutage(node: n, start: rng.unit() * window))
                    thefts += 1
                }
                var t = rng.exponential(mean: yearSeconds / max(d.outagesPerNodeYear, 1e-12))
                while t < window {
                    let end = t + rng.exponential(mean: d.outageHours * 3600)
                    outages.append(NodeOutage(node: n, start: t, end: end))
                    outagesCount += 1
                    t = end + rng.exponential(mean: yearSeconds / max(d.outagesPerNodeYear, 1e-12))
                }
            }
            var simulator = Simulator(
                trace: trace, nodes: nodes, policy: s.policy, configuration: SimulationConfiguration(outages: outages))
            var progress = ProgressReporter(label: "\(label ?? d.name) · \(site.name)", isEnabled: showProgress)
            let result = simulator.run(progress: &progress)
            progress.finish()

            // Node busy time and batch fill from the (unadjusted) outcomes.
            var intervals = [[(Double, Double)]](repeating: [], count: nodes.count)
            var outputTokens = [Double](repeating: 0, count: nodes.count)
            for o in result.outcomes where !o.refused && !o.lost && o.node >= 0 {
                let start = o.arrival + o.gatewayQueueSeconds
                let end = o.arrival + o.ttft + o.tpot * Double(max(0, o.outputTokens - 1))
                intervals[Int(o.node)].append((start, max(start, end)))
                outputTokens[Int(o.node)] += Double(o.outputTokens)
            }
            for (n, var list) in intervals.enumerated() {
                list.sort { $0.0 < $1.0 }
                var busy = 0.0, sequenceSeconds = 0.0
                var curStart = -Double.infinity, curEnd = -Double.infinity
                for (a, b) in list {
                    sequenceSeconds += b - a
                    if a > curEnd {
                        if curEnd > curStart { busy += curEnd - curStart }
                        curStart = a
                        curEnd = b
                    } else {
                        curEnd = max(curEnd, b)
                    }
                }
                if curEnd > curStart { busy += curEnd - curStart }
                let slots = Double(nodes[n].profiles[0].maxBatch)
                busyFraction.append(min(1, busy / window))
                fill.append(busy > 0 ? min(1, sequenceSeconds / (busy * slots)) : 0)
                // ~120 bytes per streamed token (an SSE chunk of OpenAI's chat.completion.chunk JSON).
                if busy > 0 { uplinkPeak = max(uplinkPeak, outputTokens[n] / busy * 120 * byteRate / (d.uplinkMbps * 1e6)) }
            }
            // Down nodes (drained) still draw idle: account for them as nodes with zero busy time.
            for _ in 0..<(perSite[siteIndex] - nodes.count) {
                busyFraction.append(0)
                fill.append(0)
            }

            // Per-request corrections: the user's own RTT, jitter, and the prompt over the downlink.
            for (j, var o) in result.outcomes.enumerated() {
                let r = mine[j]
                if !o.refused && !o.lost && o.node >= 0 {
                    let base = nodeRTT[Int(o.node)]
                    let own = base - meanPath + pathRTT[demand.centres[r]][siteIndex]
                    let jitter = rng.exponential(mean: d.jitterMs)
                    let transfer = Double(o.promptTokens) * 4 * byteRate / (d.downlinkMbps * 1e6) * 1000
                    o.ttft += (own - base + jitter + transfer) / 1000
                    userRTT.append(own + jitter)
                }
                outcomes.append(o)
                requestIndex.append(r)
            }
        }

        // Latency and SLO figures.
        let simulation = SimulationResult(
            policy: s.policy, outcomes: outcomes, duration: s.durationSeconds, targets: SchedulerConfiguration().targets, events: 0)
        let policyReport = ReportBuilder.policyReport(simulation)
        let served = outcomes.filter { !$0.refused && !$0.lost }
        let refused = outcomes.filter(\.refused).count
        let lost = outcomes.filter(\.lost).count
        let ttfts = served.map { $0.ttft * 1000 }.sorted()
        let tpots = served.filter { $0.outputTokens > 1 }.map { $0.tpot * 1000 }.sorted()
        userRTT.sort()

        // Energy of the window, at simulated scale.
        let window = s.durationSeconds
        let idleW = d.nodeIdleWatts
        let dynamicW = d.nodeFullWatts - idleW
        var dynamicShare = 0.0
        for (b, f) in zip(busyFraction, fill) { dynamicShare += b * (0.45 + 0.55 * f) }
        let itJoules = Double(busyFraction.count) * idleW * window + dynamicW * dynamicShare * window
        let facilityKWh = itJoules * d.pue / 3.6e6
        let tokens = served.reduce(0.0) { $0 + Double($1.promptTokens + $1.outputTokens) }
        let windowUtilization = busyFraction.isEmpty ? 0 : dynamicShare / Double(busyFraction.count)

        // Daily profile at full scale: the window is the busy hour.
        let shape = demand.hourlyShape
        let fleetIdleMW = Double(fullNodes) * idleW / 1e6
        let fleetDynamicMW = Double(fullNodes) * dynamicW * windowUtilization / 1e6
        var hourlyAdded: [Double]
        var hourlyHomes: [Double]?
        var peakSubstation: Double
        if let power {
            hourlyAdded = power.hourly_node_kw.map { $0 * fullPerSim / 1000 }
            hourlyHomes = power.hourly_home_kw.map { $0 * fullPerSim / 1000 }
            peakSubstation = power.peak_substation_kw * fullPerSim / 1000
        } else {
            hourlyAdded = shape.map { (fleetIdleMW + fleetDynamicMW * $0) * d.pue }
            let biggestSite = d.sites.map(\.share).max() ?? 1
            peakSubstation = (hourlyAdded.max() ?? 0) * biggestSite / shareTotal
        }
        let peakAdded = power.map { $0.peak_node_kw * fullPerSim / 1000 } ?? (hourlyAdded.max() ?? 0)
        let dailyFacilityMWh = hourlyAdded.reduce(0, +)

        // Faults, yearly, full scale.
        let meanInFlight =
            zip(busyFraction, fill).enumerated().reduce(0.0) { acc, item in
                acc + item.element.0 * item.element.1 * Double(NodeProfile(gpu: d.gpu, count: d.gpusPerNode, model: model).maxBatch)
            } / Double(max(1, busyFraction.count))
        let theftsYear = Double(fullNodes) * d.theftPerNodeYear
        let outagesYear = Double(fullNodes) * d.outagesPerNodeYear
        let downHours = theftsYear * d.replacementDays * 24 + outagesYear * d.outageHours

        // Cost, yearly, full scale.
        func crf(_ years: Double) -> Double {
            let r = s.prices.discountRate
            return r == 0 ? 1 / years : r / (1 - pow(1 + r, -years))
        }
        let gpuCapex = Double(fullGPUs) * d.gpuPriceUSD
        let nodeCapex = Double(fullNodes) * (d.nodePriceUSD + d.installPerNodeUSD)
        let itMW = Double(fullNodes) * d.nodeFullWatts / 1e6
        let buildCapex = d.buildUSDPerMW * itMW
        let price = d.kind == .homeFleet ? s.prices.residentialUSDPerKWh : s.prices.industrialUSDPerKWh
        let windowTokenRate = tokens / window / s.scale
        let tokensYear = windowTokenRate * shape.reduce(0, +) * 3600 * 365
        let annual: [String: Double] = [
            "gpus": gpuCapex * crf(d.hardwareLifeYears),
            "nodes": nodeCapex * crf(d.hardwareLifeYears),
            "building": buildCapex * crf(d.buildingLifeYears),
            "energy": dailyFacilityMWh * 1000 * 365 * price,
            "maintenance": d.maintenanceShare * (gpuCapex + nodeCapex + buildCapex),
            "sites": Double(fullNodes) * d.sitePaymentPerNodeMonthUSD * 12,
            "theft": theftsYear * (Double(d.gpusPerNode) * d.gpuPriceUSD + d.nodePriceUSD + d.installPerNodeUSD),
        ]
        let annualTotal = annual.values.reduce(0, +)
        let perMillion = tokensYear > 0 ? 1e6 / tokensYear : 0

        func cdf(_ sorted: [Double]) -> [[Double]] {
            guard !sorted.isEmpty else { return [] }
            let qs = (0...50).map { Double($0) / 50 } + [0.99, 0.995, 0.999]
            return qs.sorted().map { q in [(percentile(sorted, q) * 100).rounded() / 100, q] }
        }
        func r2(_ x: Double) -> Double { (x * 100).rounded() / 100 }
        return DeploymentReport(
            name: label.map { "\(d.name) [\($0)]" } ?? d.name, kind: d.kind.rawValue, gpu: d.gpu.name, gpus_per_node: d.gpusPerNode,
            gpus: fullGPUs, nodes: fullNodes, simulated_nodes: nodeCount, sites: d.sites.map(\.name),
            requests: outcomes.count, served: served.count, refused: refused, lost: lost, slo_attainment: policyReport.slo_attainment,
            goodput_rps: policyReport.goodput_rps, classes: policyReport.classes, ttft_p50_ms: r2(percentile(ttfts, 0.5)),
            ttft_p99_ms: r2(percentile(ttfts, 0.99)), tpot_p50_ms: r2(percentile(tpots, 0.5)), tpot_p99_ms: r2(percentile(tpots, 0.99)),
            ttft_cdf: cdf(ttfts), tpot_cdf: cdf(tpots), rtt_p50_ms: r2(percentile(userRTT, 0.5)), rtt_p99_ms: r2(percentile(userRTT, 0.99)),
            rtt_mean_ms: r2(userRTT.isEmpty ? 0 : userRTT.reduce(0, +) / Double(userRTT.count)), uplink_peak_share: uplinkPeak,
            node_full_kw: d.nodeFullWatts / 1000, pue: d.pue, energy_kwh_per_million_tokens: tokens > 0 ? facilityKWh / tokens * 1e6 : 0,
            window_utilization: windowUtilization, nameplate_mw: itMW * d.pue, peak_added_mw: peakAdded, peak_substation_mw: peakSubstation,
            transformer_peak_loading: power?.transformer_peak_loading, transformer_peak_added_kw: power?.transformer_peak_added_kw,
            home_limit_violations: power?.home_limit_violations, transformer_limit_violations: power?.transformer_limit_violations,
            hourly_added_mw: hourlyAdded, hourly_homes_mw: hourlyHomes, capped_share: power?.node_hours_capped_share ?? 0,
            drained_share: power.map { 1 - $0.node_hours_available_share } ?? 0, interconnect_queue_years: d.interconnectQueueYears,
            window_thefts: thefts, window_outages: outagesCount, window_requests_lost: lost, thefts_per_year: theftsYear,
            outages_per_year: outagesYear, requests_interrupted_per_year: (theftsYear + outagesYear) * meanInFlight,
            capacity_down_share: downHours / (Double(fullNodes) * 8760), capex_usd: gpuCapex + nodeCapex + buildCapex,
            annual_cost_usd: annualTotal, tokens_per_year: tokensYear, usd_per_million_tokens: annualTotal * perMillion,
            cost_breakdown: annual.mapValues { $0 * perMillion })
    }
}
