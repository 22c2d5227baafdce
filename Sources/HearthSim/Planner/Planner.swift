import Dispatch
import Foundation
import HearthCore
import Synchronization

/// `hearth plan`: runs every deployment of a ``Scenario`` on the same demand through the real scheduler
/// and the discrete-event ``Simulator``, and the home fleets through ``PowerSimulation``, then prices them.
///
/// Model (docs/PLANNER.md has the reasoning and sources):
/// 1. **Demand.** Each trace is time-compressed (and repeated) to its share of `rate × scale × shape(hour)`; the
///    mix is merged by arrival. Each request comes from a user centre drawn by weight. The simulated hours (the
///    busy hour, or all 24) are each one window of `warmup + duration` seconds; the warm-up is not counted.
/// 2. **Routing.** A request goes to the site with the least round trip from its centre (geo-DNS / anycast). Sites
///    do not spill over to each other (each is one ``Simulator`` run with its own gateway queue).
/// 3. **Latency.** A node's profile carries its access RTT plus the mean wide-area RTT of the users its site
///    serves (what the scheduler predicts with); each request's TTFT is then corrected to its own user's RTT,
///    plus exponential jitter and the prompt's transfer over the node's downlink.
/// 4. **Power.** Home fleets: a day of ``PowerSimulation`` (homes, transformers, governors, grid events) gives, per
///    hour, the share of nodes drained and the cap; each hour's window runs on the fleet as it was then. Energy:
///    idle + (full − idle) × busy share × (0.45 + 0.55 × batch fill) per node (decode draws ~45 % of board
///    power; see docs/POWER.md), × PUE, per simulated hour; hours not simulated follow the first trace's daily
///    profile from the busy hour.
/// 5. **Faults.** Thefts (node gone) and outages (node back after an exponential time) are drawn per node at
///    their yearly rates over each window and injected as ``NodeOutage``s; yearly expectations are reported too.
/// 6. **Cost.** Capex annualised with a capital recovery factor; opex: energy, maintenance, site payments, theft
///    replacements; divided by the tokens of a year at the daily profile.
///
/// Deployments (and sweep points) are independent, so `threads > 1` evaluates them side by side; the report
/// does not depend on `threads` (every random draw is seeded per deployment, window and site).
public struct Planner: Sendable {
    public var scenario: Scenario
    public var showProgress: Bool
    /// Deployments evaluated at once (1 = sequential). The figures are the same for any value.
    public var threads: Int

    public init(scenario: Scenario, showProgress: Bool = false, threads: Int = 1) {
        self.scenario = scenario
        self.showProgress = showProgress
        self.threads = max(1, threads)
    }

    /// The windows of demand the planner simulates, in order (for tests and tools; ``run()`` builds them one at a time).
    public func demandWindows() throws(PlanError) -> [Demand] {
        let model = try DemandModel(scenario)
        return model.hours.indices.map { model.window($0) }
    }

    public func run() throws(PlanError) -> PlanReport {
        let s = scenario
        let model = try DemandModel(s)

        // Deployments, then sweep variants that differ from every deployment.
        var configs = s.deployments
        var sweepConfig: [Int] = []
        if let sweep = s.sweep, let base = s.deployments.first(where: { $0.name == sweep.deployment }) {
            for value in sweep.values {
                let variant = base.with(sweep.parameter, value)
                if let i = configs.firstIndex(of: variant) {
                    sweepConfig.append(i)
                } else {
                    configs.append(variant)
                    sweepConfig.append(configs.count - 1)
                }
            }
        }

        let deploymentsToRun = configs
        let progress = Mutex(
            (
                reporter: ProgressReporter(label: "plan", isEnabled: showProgress), done: 0,
                total: max(1, Int(model.expectedRequests) * configs.count)
            ))
        let prepared = Self.parallelMap(configs.count, threads: threads) { prepare(deploymentsToRun[$0], model: model) }
        var tallies = Array(repeating: DeploymentTally(), count: configs.count)
        var perTrace = Array(repeating: 0, count: model.traces.count)
        var counted = 0
        for k in model.hours.indices {
            let window = model.window(k)
            counted += window.counted
            for (i, n) in window.perTrace.enumerated() { perTrace[i] += n }
            let label = s.hours == 24 ? "plan · hour \(window.hour + 1)/24" : "plan · busy hour"
            progress.withLock { $0.reporter.label = label }
            let results = Self.parallelMap(configs.count, threads: threads) { i in
                simulate(prepared[i], window: window, index: k) { done in
                    progress.withLock {
                        $0.done += done
                        $0.reporter.update(done: min($0.done, $0.total - 1), total: $0.total)
                    }
                }
            }
            for (i, r) in results.enumerated() { tallies[i].merge(r) }
        }
        progress.withLock {
            $0.reporter.update(done: $0.total, total: $0.total)
            $0.reporter.finish()
        }

        let deployments = s.deployments.indices.map { finish(prepared[$0], tallies[$0], model: model, label: nil) }
        var sweep: SweepReport?
        if let sw = s.sweep {
            let points = zip(sw.values, sweepConfig).map { value, i in
                let r = finish(prepared[i], tallies[i], model: model, label: "\(sw.parameter.rawValue)=\(Self.number(value))")
                return SweepReport.Point(
                    value: value, nodes: r.nodes, slo_attainment: r.slo_attainment, ttft_p99_ms: r.ttft_p99_ms, tpot_p99_ms: r.tpot_p99_ms,
                    rtt_p50_ms: r.rtt_p50_ms, energy_kwh_per_million_tokens: r.energy_kwh_per_million_tokens,
                    usd_per_million_tokens: r.usd_per_million_tokens, capped_share: r.capped_share, drained_share: r.drained_share)
            }
            sweep = SweepReport(deployment: sw.deployment, parameter: sw.parameter.rawValue, points: points)
        }
        var traces = model.infos
        for i in traces.indices { traces[i].requests = perTrace[i] }
        return PlanReport(
            scenario: s.name, seed: s.seed, scale: s.scale, duration_s: s.durationSeconds, hours: s.hours, warmup_s: s.warmupSeconds,
            busy_hour: model.busyHour, hourly_demand_shape: model.hourlyShape, policy: s.policy.rawValue, model: s.model.id,
            demand_rps: s.demand.ratePerSecond, requests: counted, traces: traces, users: s.users.map(\.name), deployments: deployments,
            sweep: sweep)
    }

    static func number(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e9 ? String(Int(x)) : String(x) }

    /// `body(0..<count)` on up to `threads` threads, results in index order.
    static func parallelMap<T: Sendable>(_ count: Int, threads: Int, _ body: @Sendable (Int) -> T) -> [T] {
        guard threads > 1, count > 1 else { return (0..<count).map(body) }
        let results = Mutex([T?](repeating: nil, count: count))
        let next = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: min(threads, count)) { _ in
            while true {
                let i = next.add(1, ordering: .relaxed).oldValue
                guard i < count else { return }
                let value = body(i)
                results.withLock { $0[i] = value }
            }
        }
        return results.withLock { $0.map { $0! } }
    }

    // MARK: One deployment

    /// A deployment made ready to run windows: nodes per site, routes, each node's access link, its power day.
    struct Prepared: Sendable {
        var deployment: Deployment
        var perSite: [Int]
        var fullNodes: Int
        /// Full-scale nodes per simulated node.
        var fullPerSim: Double
        var siteOfCentre: [Int]
        /// pathRTT[centre][site], ms.
        var pathRTT: [[Double]]
        /// accessRTT[site][node], ms.
        var accessRTT: [[Double]]
        var power: PowerReport?

        var nodeCount: Int { perSite.reduce(0, +) }
    }

    func prepare(_ d: Deployment, model: DemandModel) -> Prepared {
        let s = scenario
        let fullNodes = max(1, d.totalGPUs / d.gpusPerNode)
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
        // Routing: each centre to its nearest site.
        let siteOfCentre = s.users.map { user in
            d.sites.indices.min {
                NetworkModel.distanceKm(user, d.sites[$0], metroKm: d.metroKm)
                    < NetworkModel.distanceKm(user, d.sites[$1], metroKm: d.metroKm)
            }!
        }
        let pathRTT: [[Double]] = s.users.map { user in
            d.sites.map { NetworkModel.pathRTTms(km: NetworkModel.distanceKm(user, $0, metroKm: d.metroKm)) }
        }
        var rng = SeededGenerator(seed: s.seed ^ fnv1a(d.name) ^ 0x51_7E5)
        let accessRTT = perSite.map { count in
            (0..<count).map { _ in d.accessRTTms * (d.kind == .homeFleet ? 0.6 + 0.8 * rng.unit() : 1) }
        }
        // Home power: a day of homes, transformers and governors, the first trace's daily profile driving the nodes.
        var power: PowerReport?
        if d.kind == .homeFleet {
            var configuration = PowerSimulation.Configuration(
                homes: nodeCount, transformers: max(1, nodeCount / d.homesPerTransformer), days: 1, seed: s.seed, stepSeconds: 60,
                nodeFullWatts: d.nodeFullWatts,
                hostShare: (d.hostWattsPerNode + Double(d.gpusPerNode) * d.hostWattsPerGPU) / d.nodeFullWatts,
                idleShare: d.idleShare, peakUtilization: d.peakUtilization, fleet: .uniform(d.gpu, count: d.gpusPerNode))
            configuration.sloReplays = false
            if d.batteryKWh > 0 {
                configuration.battery = NodeBattery.Configuration(
                    kilowattHours: d.batteryKWh, kilowatts: d.batteryKW, reserveFraction: d.batteryReserve)
            }
            power = PowerSimulation(configuration: configuration, trace: model.traces[0]).run()
        }
        return Prepared(
            deployment: d, perSite: perSite, fullNodes: fullNodes, fullPerSim: Double(fullNodes) / Double(nodeCount),
            siteOfCentre: siteOfCentre, pathRTT: pathRTT, accessRTT: accessRTT, power: power)
    }

    /// Runs window `index` of the demand on a prepared deployment, site by site; `advance` gets each site's request count.
    func simulate(_ p: Prepared, window: Demand, index: Int, advance: (Int) -> Void) -> DeploymentTally {
        let s = scenario
        let d = p.deployment
        let hour = window.hour
        let warmup = window.warmupSeconds
        let length = warmup + s.durationSeconds
        let available = p.power?.hourly_available_share[hour] ?? 1
        let speed = p.power?.hourly_prefill_speed[hour] ?? 1
        let targets = SchedulerConfiguration().targets
        let classifier = TaskClassifier()
        let yearSeconds = 365.0 * 86_400
        let bitsPerByte = 8.0
        var tally = DeploymentTally()
        var hourTally = DeploymentTally.HourTally()
        hourTally.seconds = s.durationSeconds

        // Requests by site.
        var bySite = [[Int]](repeating: [], count: d.sites.count)
        for (r, centre) in window.centres.enumerated() { bySite[p.siteOfCentre[centre]].append(r) }

        for (siteIndex, site) in d.sites.enumerated() {
            var rng = SeededGenerator(
                seed: s.seed ^ fnv1a(d.name) ^ (UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
                    ^ (UInt64(siteIndex + 1) &* 0xC2B2_AE3D_27D4_EB4F))
            let mine = bySite[siteIndex]
            hourTally.nodes += p.perSite[siteIndex]  // drained nodes idle too
            // Mean wide-area RTT of the users this site serves (what the scheduler predicts with).
            let meanPath = mine.isEmpty ? 0 : mine.reduce(0.0) { $0 + p.pathRTT[window.centres[$1]][siteIndex] } / Double(mine.count)
            // The engines the scheduler places on: each node's replicas, drained or capped with their node.
            var nodes: [NodeSnapshot] = []
            var nodeRTT: [Double] = []
            let replicas = max(1, d.replicasPerNode)
            for i in 0..<p.perSite[siteIndex] {
                // Drained this hour (home fleets): the node is not in the fleet.
                if d.kind == .homeFleet, rng.unit() >= available { continue }
                let rttMs = p.accessRTT[siteIndex][i] + meanPath
                var profile = NodeProfile(gpu: d.gpu, count: d.gpusPerNode / replicas, model: s.model, linkRTTSeconds: rttMs / 1000)
                profile.powerCapFactor = speed
                for r in 0..<replicas {
                    nodes.append(
                        NodeSnapshot(
                            id: NodeID(replicas == 1 ? "\(site.name)-\(i)" : "\(site.name)-\(i)/\(r)"),
                            models: [ServedModel(id: s.model.id, contextTokens: s.model.contextTokens)], profiles: [profile],
                            labels: ["site": site.name]))
                    nodeRTT.append(rttMs)
                }
            }
            guard !mine.isEmpty else { continue }
            defer { advance(mine.count) }
            guard !nodes.isEmpty else {
                for r in mine where window.requests[r].arrival >= warmup {
                    let q = window.requests[r]
                    let o = RequestOutcome(
                        taskClass: q.declaredClass
                            ?? classifier.classify(
                                declared: nil, promptTokens: q.promptTokens, maxOutputTokens: q.outputTokens, turns: q.turns),
                        promptTokens: q.promptTokens, outputTokens: q.outputTokens, arrival: q.arrival, refused: true, node: -1, ttft: 0,
                        tpot: 0, cachedTokens: 0, predictedTTFT: 0, predictedTPOT: 0, gatewayQueueSeconds: 0)
                    tally.add(o, met: false, rttMs: nil, hour: hour)
                }
                continue
            }
            // Faults over the window at yearly rates.
            var outages: [NodeOutage] = []
            for n in nodes.indices {
                if rng.unit() < d.theftPerNodeYear * length / yearSeconds {
                    outages.append(NodeOutage(node: n, start: rng.unit() * length))
                    tally.thefts += 1
                }
                var t = rng.exponential(mean: yearSeconds / max(d.outagesPerNodeYear, 1e-12))
                while t < length {
                    let end = t + rng.exponential(mean: d.outageHours * 3600)
                    outages.append(NodeOutage(node: n, start: t, end: end))
                    tally.outages += 1
                    t = end + rng.exponential(mean: yearSeconds / max(d.outagesPerNodeYear, 1e-12))
                }
            }
            let trace = Trace(path: site.name, format: .generated, requests: mine.map { window.requests[$0] })
            var simulator = Simulator(
                trace: trace, nodes: nodes, policy: s.policy, configuration: SimulationConfiguration(outages: outages))
            var quiet = ProgressReporter(label: site.name, isEnabled: false)
            let result = simulator.run(progress: &quiet)

            // Node busy time and batch fill over the counted part of the window.
            var intervals = [[(Double, Double)]](repeating: [], count: nodes.count)
            var outputTokens = [Double](repeating: 0, count: nodes.count)
            for o in result.outcomes where !o.refused && !o.lost && o.node >= 0 {
                let start = max(warmup, o.arrival + o.gatewayQueueSeconds)
                let end = min(length, o.arrival + o.ttft + o.tpot * Double(max(0, o.outputTokens - 1)))
                guard end > start else { continue }
                intervals[Int(o.node)].append((start, end))
                if o.arrival >= warmup { outputTokens[Int(o.node)] += Double(o.outputTokens) }
            }
            // A node's replicas share its uplink: their rates add up.
            var uplinkByNode = [Double](repeating: 0, count: (nodes.count + replicas - 1) / replicas)
            for (n, var list) in intervals.enumerated() {
                list.sort { $0.0 < $1.0 }
                var busy = 0.0
                var sequenceSeconds = 0.0
                var curStart = -Double.infinity
                var curEnd = -Double.infinity
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
                let share = min(1, busy / s.durationSeconds)
                let fill = busy > 0 ? min(1, sequenceSeconds / (busy * slots)) : 0
                // A replica is its node's share of the node's GPUs: the node's dynamic draw is the sum over its replicas.
                hourTally.dynamicShare += share * (0.45 + 0.55 * fill) / Double(replicas)
                hourTally.inFlight += share * fill * slots
                // ~120 bytes per streamed token (an SSE chunk of OpenAI's chat.completion.chunk JSON).
                if busy > 0 { uplinkByNode[n / replicas] += outputTokens[n] / busy * 120 * bitsPerByte / (d.uplinkMbps * 1e6) }
            }
            tally.uplinkPeak = max(tally.uplinkPeak, uplinkByNode.max() ?? 0)

            // Per-request corrections: the user's own RTT, jitter, and the prompt over the downlink; then the tally.
            for (j, var o) in result.outcomes.enumerated() {
                let r = mine[j]
                let counts = o.arrival >= warmup
                var rtt: Double?
                if !o.refused && !o.lost && o.node >= 0 {
                    let base = nodeRTT[Int(o.node)]
                    let own = base - meanPath + p.pathRTT[window.centres[r]][siteIndex]
                    let jitter = rng.exponential(mean: d.jitterMs)
                    let transfer = Double(o.promptTokens) * 4 * bitsPerByte / (d.downlinkMbps * 1e6) * 1000
                    o.ttft += (own - base + jitter + transfer) / 1000
                    rtt = own + jitter
                }
                guard counts else { continue }
                let met =
                    !o.refused && !o.lost && targets[o.taskClass].isMet(ttft: o.ttft, tpot: o.tpot, promptTokens: o.promptTokens)
                tally.add(o, met: met, rttMs: rtt, hour: hour)
            }
        }
        let counted = tally.hours[hour]
        hourTally.requests = counted?.requests ?? 0
        hourTally.met = counted?.met ?? 0
        hourTally.tokens = counted?.tokens ?? 0
        tally.hours[hour] = hourTally
        return tally
    }

    /// The report of one deployment from its tally.
    func finish(_ p: Prepared, _ t: DeploymentTally, model: DemandModel, label: String?) -> DeploymentReport {
        let s = scenario
        let d = p.deployment
        let fullGPUs = d.totalGPUs
        let fullNodes = p.fullNodes
        let power = p.power

        // Per hour: utilisation, facility power at simulated scale, tokens per second at full scale. Hours not
        // simulated follow the daily profile from the busiest simulated hour.
        let idleW = d.nodeIdleWatts
        let dynamicW = d.nodeFullWatts - idleW
        let shape = model.hourlyShape
        let reference = t.hours.max { shape[$0.key] < shape[$1.key] }
        let refUtilization = reference.map { $0.value.nodes > 0 ? $0.value.dynamicShare / Double($0.value.nodes) : 0 } ?? 0
        let refTokens = reference.map { $0.value.seconds > 0 ? $0.value.tokens / $0.value.seconds / s.scale : 0 } ?? 0
        let refShape = reference.map { max(shape[$0.key], 1e-12) } ?? 1
        var utilization = [Double](repeating: 0, count: 24)
        var tokenRate = [Double](repeating: 0, count: 24)
        var hourlyRequests = [Int](repeating: 0, count: 24)
        var hourlySLO = [Double](repeating: 0, count: 24)
        var facilityJoules = 0.0
        var windowTokens = 0.0
        var nodeSum = 0
        var dynamicSum = 0.0
        var inFlightSum = 0.0
        for h in 0..<24 {
            if let hour = t.hours[h], hour.nodes > 0, hour.seconds > 0 {
                utilization[h] = hour.dynamicShare / Double(hour.nodes)
                tokenRate[h] = hour.tokens / hour.seconds / s.scale
                hourlyRequests[h] = hour.requests
                hourlySLO[h] = hour.requests > 0 ? Double(hour.met) / Double(hour.requests) : 0
                facilityJoules += (Double(hour.nodes) * idleW + dynamicW * hour.dynamicShare) * hour.seconds * d.pue
                windowTokens += hour.tokens
                nodeSum += hour.nodes
                dynamicSum += hour.dynamicShare
                inFlightSum += hour.inFlight
            } else {
                utilization[h] = refUtilization * shape[h] / refShape
                tokenRate[h] = refTokens * shape[h] / refShape
            }
        }
        let windowUtilization = nodeSum > 0 ? dynamicSum / Double(nodeSum) : 0

        // Grid, full scale.
        let fleetIdleMW = Double(fullNodes) * idleW / 1e6
        let fleetDynamicMW = Double(fullNodes) * dynamicW / 1e6
        let shareTotal = d.sites.reduce(0) { $0 + $1.share }
        var hourlyAdded: [Double]
        var hourlyHomes: [Double]?
        var peakSubstation: Double
        if let power {
            hourlyAdded = power.hourly_node_kw.map { $0 * p.fullPerSim / 1000 }
            hourlyHomes = power.hourly_home_kw.map { $0 * p.fullPerSim / 1000 }
            peakSubstation = power.peak_substation_kw * p.fullPerSim / 1000
        } else {
            hourlyAdded = utilization.map { (fleetIdleMW + fleetDynamicMW * $0) * d.pue }
            let biggestSite = d.sites.map(\.share).max() ?? 1
            peakSubstation = (hourlyAdded.max() ?? 0) * biggestSite / shareTotal
        }
        let peakAdded = power.map { $0.peak_node_kw * p.fullPerSim / 1000 } ?? (hourlyAdded.max() ?? 0)
        let dailyFacilityMWh = hourlyAdded.reduce(0, +)

        // Faults, yearly, full scale.
        let meanInFlight = nodeSum > 0 ? inFlightSum / Double(nodeSum) : 0
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
        let batteryPerNode = d.batteryKWh * d.batteryUSDPerKWh
        let batteryCapex = Double(fullNodes) * batteryPerNode
        let itMW = Double(fullNodes) * d.nodeFullWatts / 1e6
        let buildCapex = d.buildUSDPerMW * itMW
        let price = d.kind == .homeFleet ? s.prices.residentialUSDPerKWh : s.prices.industrialUSDPerKWh
        let tokensYear = tokenRate.reduce(0, +) * 3600 * 365
        let annual: [String: Double] = [
            "gpus": gpuCapex * crf(d.hardwareLifeYears),
            "nodes": nodeCapex * crf(d.hardwareLifeYears),
            "battery": batteryCapex * crf(d.hardwareLifeYears),
            "building": buildCapex * crf(d.buildingLifeYears),
            "energy": dailyFacilityMWh * 1000 * 365 * price,
            "maintenance": d.maintenanceShare * (gpuCapex + nodeCapex + batteryCapex + buildCapex),
            "sites": Double(fullNodes) * d.sitePaymentPerNodeMonthUSD * 12,
            "theft": theftsYear * (Double(d.gpusPerNode) * d.gpuPriceUSD + d.nodePriceUSD + d.installPerNodeUSD + batteryPerNode),
        ]
        // Summed in key order: a dictionary's order differs between runs, and the report must not.
        let annualTotal = annual.keys.sorted().reduce(0) { $0 + annual[$1]! }
        let perMillion = tokensYear > 0 ? 1e6 / tokensYear : 0

        func cdf(_ h: LogHistogram) -> [[Double]] {
            guard h.total > 0 else { return [] }
            let qs = (0...50).map { Double($0) / 50 } + [0.99, 0.995, 0.999]
            return qs.sorted().map { q in [(h.percentile(q) * 100).rounded() / 100, q] }
        }
        func r2(_ x: Double) -> Double { (x * 100).rounded() / 100 }
        let seconds = max(t.seconds, 1e-9)
        return DeploymentReport(
            name: label.map { "\(d.name) [\($0)]" } ?? d.name, kind: d.kind.rawValue, gpu: d.gpu.name, gpus_per_node: d.gpusPerNode,
            replicas_per_node: d.replicasPerNode, battery_kwh: d.batteryKWh,
            gpus: fullGPUs, nodes: fullNodes, simulated_nodes: p.nodeCount, sites: d.sites.map(\.name),
            requests: t.requests, served: t.served, refused: t.refused, lost: t.lost,
            slo_attainment: t.requests > 0 ? Double(t.met) / Double(t.requests) : 0, goodput_rps: Double(t.met) / seconds,
            classes: t.classReports(), ttft_p50_ms: r2(t.ttft.percentile(0.5)), ttft_p99_ms: r2(t.ttft.percentile(0.99)),
            tpot_p50_ms: r2(t.tpot.percentile(0.5)), tpot_p99_ms: r2(t.tpot.percentile(0.99)), ttft_cdf: cdf(t.ttft), tpot_cdf: cdf(t.tpot),
            rtt_p50_ms: r2(t.rtt.percentile(0.5)), rtt_p99_ms: r2(t.rtt.percentile(0.99)),
            rtt_mean_ms: r2(t.rtt.total > 0 ? t.rttSum / Double(t.rtt.total) : 0), uplink_peak_share: t.uplinkPeak,
            node_full_kw: d.nodeFullWatts / 1000, pue: d.pue,
            energy_kwh_per_million_tokens: windowTokens > 0 ? facilityJoules / 3.6e6 / windowTokens * 1e6 : 0,
            window_utilization: windowUtilization, nameplate_mw: itMW * d.pue, peak_added_mw: peakAdded, peak_substation_mw: peakSubstation,
            transformer_peak_loading: power?.transformer_peak_loading, transformer_peak_added_kw: power?.transformer_peak_added_kw,
            home_limit_violations: power?.home_limit_violations, transformer_limit_violations: power?.transformer_limit_violations,
            hourly_added_mw: hourlyAdded, hourly_homes_mw: hourlyHomes, hourly_requests: hourlyRequests, hourly_slo_attainment: hourlySLO,
            capped_share: power?.node_hours_capped_share ?? 0, drained_share: power.map { 1 - $0.node_hours_available_share } ?? 0,
            interconnect_queue_years: d.interconnectQueueYears,
            window_thefts: t.thefts, window_outages: t.outages, window_requests_lost: t.lost, thefts_per_year: theftsYear,
            outages_per_year: outagesYear, requests_interrupted_per_year: (theftsYear + outagesYear) * meanInFlight,
            capacity_down_share: downHours / (Double(fullNodes) * 8760), capex_usd: gpuCapex + nodeCapex + batteryCapex + buildCapex,
            annual_cost_usd: annualTotal, tokens_per_year: tokensYear, usd_per_million_tokens: annualTotal * perMillion,
            cost_breakdown: annual.mapValues { $0 * perMillion })
    }
}
