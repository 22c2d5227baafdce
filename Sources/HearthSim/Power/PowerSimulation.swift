public import HearthCore

/// `hearth sim power`: a week (or any number of days) of homes, transformers, grid events and Hearth nodes.
///
/// Model, per time step of ``Configuration/stepSeconds`` (default 60 s):
/// 1. Each home's load is the **worst second** of the step from its 1 s ``HomeLoadProfile`` (so the coarse
///    step never hides a spike; the governor's own sub-second reaction is proven in its unit tests).
/// 2. Each node wants `idle + (full − idle) × u(t)`, where `u(t)` is the request trace's token rate, the trace
///    stretched over one day (1 trace second ↦ 86 400 / trace duration seconds) and scaled so its busiest
///    minute is ``Configuration/peakUtilization``, repeated daily.
/// 3. Grid events (one or two a day: `SIMPLE` levels 1–2 and `IMPORT_CAPACITY_LIMIT`, evening and midday,
///    targeting a fifth of the transformers or the whole fleet, `randomizeStart` 5 min) give per-node caps
///    through ``DemandResponse``.
/// 4. The gateway's ``TransformerAllocator`` shares each transformer (homes first) among its nodes, each
///    node wishing for min(full draw, its home budget, its grid cap); floors are the node's running floor
///    (host + GPUs at minimum), so a node either gets enough to run or nothing (it powers down).
/// 5. Each node's ``PowerGovernor`` gets the grid cap, the transformer budget and the panel reading, and the
///    node draws min(its demand, what its mode and GPU limit allow).
///
/// Counted: a home violation is a step where the node imports and home + node import exceed the home's continuous
/// limit (80 % of the service); a transformer violation is a step where its nodes import and homes + nodes
/// exceed the rating × power factor (before Hearth's margin). A DR event is met when every targeted node,
/// at every step in its (randomized) window, imported no more than its cap (a node with a battery may draw more:
/// the battery gives the rest). The battery's flow is the governor's plan (the node's allowed draw less its grid
/// budget): a node drawing less than it is allowed is counted as taking the whole gap from its battery, which makes
/// the battery's endurance and cycles pessimistic. Homes whose own load alone exceeds
/// a limit are not Hearth's violations (the node then draws nothing).
///
/// SLO attainment: the real ``Simulator`` (slo-aware) replays the trace against the fleet as the governors
/// left it (drained/off nodes removed, capped nodes slowed by ``GPUPowerCurve``) at four moments a day
/// (02:00, 08:00, 14:00, 20:00), the load scaled by `u` then; `slo_attainment` is their load-weighted mean,
/// also reported: the worst sample, the week's tightest step (least capacity for the load), and the same
/// replay at peak load with every node uncapped.
public struct PowerSimulation: Sendable {
    public struct Configuration: Sendable {
        public var homes: Int
        public var transformers: Int
        public var days: Int
        public var seed: UInt64
        public var stepSeconds: Int
        /// Node full draw, watts (host + GPUs at their maximum limit).
        public var nodeFullWatts: Double
        /// Host share of full draw.
        public var hostShare: Double
        /// GPU minimum power limit as a share of the maximum.
        public var gpuMinShare: Double
        /// Node idle draw as a share of full draw.
        public var idleShare: Double
        public var peakUtilization: Double
        /// Trace load scale per node for the SLO replay at peak (200 nodes at scale 300 is "moderate").
        public var loadScalePerNode: Double
        public var transformerMargin: Double
        public var powerFactor: Double
        public var fleet: FleetComposition
        /// Run the SLO replays (off for callers, such as the planner, that replay demand themselves).
        public var sloReplays: Bool = true
        /// Each node's battery (nil: none). With one, the run is repeated without it for
        /// ``PowerReport/full_power_share_without_battery``.
        public var battery: NodeBattery.Configuration?

        public init(
            homes: Int = 1000, transformers: Int = 100, days: Int = 7, seed: UInt64 = 1, stepSeconds: Int = 60,
            nodeFullWatts: Double = 6_000, hostShare: Double = 0.2, gpuMinShare: Double = 0.3, idleShare: Double = 0.1,
            peakUtilization: Double = 0.9, loadScalePerNode: Double = 1.5, transformerMargin: Double = 0.1,
            powerFactor: Double = 0.9, fleet: FleetComposition = .mixed
        ) {
            self.homes = homes
            self.transformers = transformers
            self.days = days
            self.seed = seed
            self.stepSeconds = stepSeconds
            self.nodeFullWatts = nodeFullWatts
            self.hostShare = hostShare
            self.gpuMinShare = gpuMinShare
            self.idleShare = idleShare
            self.peakUtilization = peakUtilization
            self.loadScalePerNode = loadScalePerNode
            self.transformerMargin = transformerMargin
            self.powerFactor = powerFactor
            self.fleet = fleet
        }

        public var governor: PowerGovernor.Configuration {
            let host = nodeFullWatts * hostShare
            let gpuMax = nodeFullWatts - host
            // Readings come once a step here, so a reading is fresh for one step (the agent's own default is 2.5 s).
            return PowerGovernor.Configuration(
                hostWatts: host, gpuMaxWatts: gpuMax, gpuMinWatts: gpuMax * gpuMinShare, idleWatts: nodeFullWatts * idleShare,
                staleAfterSeconds: max(2.5, Double(stepSeconds) + 1), battery: battery)
        }

        /// The node as built (public reporting, 2026): 16 RTX PRO 6000 Blackwell Server Edition GPUs at up to 600 W
        /// each (9.6 kW), 4 EPYC CPUs, about 3 TB of memory and liquid cooling, about 12.5 kW at full load, and a
        /// 15 kWh battery. Assumed, not published: the host's 2.9 kW (12.5 − 9.6), a GPU floor of 300 W each (half
        /// the maximum), 1.5 kW idle, and a battery that charges and discharges at 5 kW with a 20 % reserve.
        public mutating func useNodeAsBuilt() {
            nodeFullWatts = 12_500
            hostShare = 2_900 / 12_500
            gpuMinShare = 0.5
            idleShare = 1_500 / 12_500
            battery = NodeBattery.Configuration(kilowattHours: 15, kilowatts: 5, reserveFraction: 0.2)
        }
    }

    public var configuration: Configuration
    public var trace: Trace
    public var showProgress: Bool

    public init(configuration: Configuration, trace: Trace, showProgress: Bool = false) {
        self.configuration = configuration
        self.trace = trace
        self.showProgress = showProgress
    }

    /// Daily utilisation at 1-minute resolution from the trace's token rate (peak = `peak`).
    public static func dailyUtilization(_ trace: Trace, peak: Double) -> [Double] {
        var buckets = [Double](repeating: 0, count: 1440)
        let duration = max(trace.duration, 1)
        let first = trace.requests.first?.arrival ?? 0
        for r in trace.requests {
            let k = min(1439, Int((r.arrival - first) / duration * 1440))
            buckets[k] += Double(r.promptTokens + r.outputTokens)
        }
        // Smooth over 5 minutes so one burst does not define the day.
        var smooth = buckets
        for k in 0..<1440 {
            var sum = 0.0
            for j in -2...2 { sum += buckets[(k + j + 1440) % 1440] }
            smooth[k] = sum / 5
        }
        let top = smooth.max() ?? 0
        return top > 0 ? smooth.map { $0 / top * peak } : Array(repeating: peak, count: 1440)
    }

    /// The grid events of the run: an evening event every day and a midday one every other day.
    public static func gridEvents(days: Int, transformers: Int, seed: UInt64) -> [GridEvent] {
        var rng = SeededGenerator(seed: seed ^ 0x0ADE)
        var events: [GridEvent] = []
        for day in 0..<days {
            for slot in 0..<(day % 2 == 0 ? 2 : 1) {
                let evening = slot == 0
                let startHour = evening ? 17 + rng.unit() * 2 : 12 + rng.unit() * 2
                let start = (Double(day) * 86_400 + startHour * 3600).rounded()
                let duration = (3600 + rng.unit() * 3600).rounded()
                let signal: GridEvent.Signal =
                    switch (day + slot) % 3 {
                    case 0: .simple(level: 1 + Int(rng.next() % 2))
                    case 1: .importCapacityLimit(kilowatts: 1 + Double(rng.next() % 3))
                    default: .simple(level: 2)
                    }
                var targets: [String] = []
                if day % 3 != 2 {
                    for k in 0..<transformers where rng.unit() < 0.2 { targets.append("transformer-\(k)") }
                    if targets.isEmpty { targets = ["transformer-0"] }
                } else {
                    targets = ["hearth-fleet"]
                }
                events.append(
                    GridEvent(
                        id: "dr-\(day)-\(slot)", programID: "hearth-dr", signal: signal, start: start, duration: duration,
                        randomizeStart: 300, targets: targets))
            }
        }
        return events
    }

    public func run() -> PowerReport {
        var report = runOnce()
        if configuration.battery != nil {
            var without = self
            without.configuration.battery = nil
            without.configuration.sloReplays = false
            without.showProgress = false
            report.full_power_share_without_battery = without.runOnce().full_power_share
        }
        return report
    }

    private func runOnce() -> PowerReport {
        let c = configuration
        let homes = max(1, c.homes)
        let transformerCount = max(1, min(c.transformers, homes))
        let step = max(1, c.stepSeconds)
        let stepsPerDay = (HomeLoadProfile.secondsPerDay + step - 1) / step
        let governorConfiguration = c.governor
        var rng = SeededGenerator(seed: c.seed ^ 0x9_0E7)

        // Homes: types from the mix, transformers by a shuffled round robin, sized for diversified demand.
        var types: [HomeType] = []
        for _ in 0..<homes {
            var x = rng.unit()
            var chosen = HomeType.mix.last!.0
            for (type, share) in HomeType.mix {
                if x < share { chosen = type; break }
                x -= share
            }
            types.append(chosen)
        }
        var order = Array(0..<homes)
        order.shuffle(using: &rng)
        var transformerOf = [Int](repeating: 0, count: homes)
        var members = [[Int]](repeating: [], count: transformerCount)
        for (position, home) in order.enumerated() {
            transformerOf[home] = position % transformerCount
            members[position % transformerCount].append(home)
        }
        let standard: [Double] = [25, 37.5, 50, 75, 100, 167, 250]
        let transformers = members.enumerated().map { k, homesOn in
            let design = homesOn.reduce(0.0) { $0 + types[$1].designKVA }
            let rating = standard.first { $0 >= design } ?? standard.last!
            return TransformerAllocator.Transformer(
                id: "transformer-\(k)", ratingKVA: rating, powerFactor: c.powerFactor, margin: c.transformerMargin)
        }

        // The gateway's allocation (HearthCore's GridAllocation: grid events, then transformers), as the coordinator
        // runs it. Which events bind which node when is precomputed (the windows); the caps are taken every step,
        // since an import capacity limit counts the home's load of the moment.
        let allocation = GridAllocation(transformers: transformers)
        let events = Self.gridEvents(days: c.days, transformers: transformerCount, seed: c.seed)
        var gridNodes = (0..<homes).map { n in
            GridAllocation.Node(
                id: "node-\(n)", groups: ["transformer-\(transformerOf[n])", "hearth-fleet"],
                transformerID: "transformer-\(transformerOf[n])",
                fullWatts: c.nodeFullWatts, homeLoadWatts: 0, homeBudgetWatts: nil)
        }
        struct Binding { var begin: Double; var end: Double; var event: Int }
        var bindings = [[Binding]](repeating: [], count: homes)
        var eventNodes = [[Int]](repeating: [], count: events.count)
        for (e, event) in events.enumerated() {
            for n in 0..<homes {
                let node = gridNodes[n]
                guard event.targets(node: node.id, groups: node.groups) else { continue }
                let window = event.window(for: node.id)
                bindings[n].append(Binding(begin: window.begin, end: window.end, event: e))
                eventNodes[e].append(n)
            }
        }
        var eventFailed = [Bool](repeating: false, count: events.count)
        // Per event: the least fleet-wide reduction of its nodes' grid import, over the steps of its window.
        var eventReduction = [Double](repeating: .infinity, count: events.count)
        var eventImport = [Double](repeating: 0, count: events.count)
        var eventBaseline = [Double](repeating: 0, count: events.count)
        var eventIndexByNode = [[Int]](repeating: [], count: homes)
        for (e, nodes) in eventNodes.enumerated() { for n in nodes { eventIndexByNode[n].append(e) } }

        let utilization = Self.dailyUtilization(trace, peak: c.peakUtilization)
        var governors = [PowerGovernor](repeating: PowerGovernor(configuration: governorConfiguration), count: homes)
        var draw = [Double](repeating: 0, count: homes)
        var gridImport = [Double](repeating: 0, count: homes)
        var fullPowerSteps = 0
        var homeViolations = 0
        var transformerViolations = 0
        var availableSteps = 0
        var cappedSteps = 0
        var energyWh = 0.0
        var actions = 0
        var tightest = (share: Double.infinity, t: 0.0, u: 0.0, modes: [PowerGovernor.Mode](), caps: [Double]())
        var progress = ProgressReporter(label: "power", isEnabled: showProgress)
        let totalSteps = c.days * stepsPerDay
        var loads = [Double](repeating: 0, count: homes)
        var samples: [(t: Double, u: Double, modes: [PowerGovernor.Mode], caps: [Double])] = []
        var hourlyNodeWh = [Double](repeating: 0, count: 24)
        var hourlyHomeWh = [Double](repeating: 0, count: 24)
        var hourlyAvailable = [Double](repeating: 0, count: 24)
        var hourlySpeed = [Double](repeating: 0, count: 24)
        var hourlySteps = [Double](repeating: 0, count: 24)
        var peakNodeW = 0.0
        var peakSubstationW = 0.0
        var peakHomesW = 0.0
        var transformerPeakLoading = 0.0
        var transformerPeakAddedW = 0.0
        var drCap = [Double?](repeating: nil, count: homes)
        var homeBudget = [Double](repeating: 0, count: homes)

        for day in 0..<c.days {
            // This day's worst-second-per-step home loads.
            var dayLoads = [[Float]](repeating: [], count: homes)
            for h in 0..<homes {
                let seed = c.seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(h) &* 0xD1B5_4A32_D192_ED03 ^ UInt64(day) &+ 1
                dayLoads[h] = HomeLoadProfile.stepMaxima(HomeLoadProfile.day(types[h], seed: seed), step: step)
            }
            for k in 0..<stepsPerDay {
                let t = Double(day * 86_400 + k * step)
                let minute = min(1439, (k * step) / 60)
                let u = utilization[minute]
                for h in 0..<homes {
                    loads[h] = Double(dayLoads[h][k])
                    homeBudget[h] = PowerBudget.compute(homeLoadWatts: loads[h], breakerRatingAmps: types[h].serviceAmps).watts
                    // What the node reports to the gateway: its home's load and budget, its floor from the grid.
                    gridNodes[h].homeLoadWatts = loads[h]
                    gridNodes[h].homeBudgetWatts = homeBudget[h]
                    gridNodes[h].gridFloorWatts = governors[h].gridFloorWatts
                    var cap: Double?
                    for b in bindings[h] where t >= b.begin && t < b.end {
                        let bound = allocation.demandResponse.cap(events[b.event], node: allocation.drNode(gridNodes[h]), at: b.begin)
                        if let bound { cap = min(cap ?? .infinity, bound) }
                    }
                    drCap[h] = cap
                }
                // Gateway: transformer allocation, as the coordinator does it.
                let budgets = allocation.budgets(gridNodes, gridCaps: drCap).map { $0.transformerBudgetWatts ?? 0 }
                // Nodes: governors react; draw follows.
                var available = 0.0
                var admitting = 0
                for h in 0..<homes {
                    let reading = PanelReading(
                        homeLoadWatts: loads[h], breakerRatingAmps: types[h].serviceAmps, voltage: 240, nodeDrawWatts: draw[h], at: t)
                    actions += governors[h].handle(.panelReading(reading), now: t).count
                    actions += governors[h].handle(.budgetChange(watts: budgets[h]), now: t).count
                    actions += governors[h].handle(.gridCap(watts: drCap[h]), now: t).count
                    let g = governors[h]
                    let demand = governorConfiguration.idleWatts + (c.nodeFullWatts - governorConfiguration.idleWatts) * u
                    draw[h] = g.mode.isAdmitting ? min(demand, g.allowedDrawWatts) : g.allowedDrawWatts
                    gridImport[h] = g.gridImport(forDraw: draw[h])
                    energyWh += draw[h] * Double(step) / 3600
                    if g.mode.isAdmitting {
                        availableSteps += 1
                        available += GPUPowerCurve.prefillSpeed(capFraction: g.capFraction)
                        admitting += 1
                        if g.mode == .capped { cappedSteps += 1 }
                        if g.mode == .normal { fullPowerSteps += 1 }
                    }
                    let limit = 0.8 * types[h].serviceAmps * 240
                    if gridImport[h] > 0, loads[h] + gridImport[h] > limit + 1e-6 { homeViolations += 1 }
                    for e in eventIndexByNode[h] where events[e].isActive(for: "node-\(h)", at: t) {
                        // A grid event caps what the node imports: its battery may carry the rest.
                        if let cap = drCap[h], gridImport[h] > cap + 1e-6 { eventFailed[e] = true }
                        eventImport[e] += gridImport[h]
                        eventBaseline[e] += demand
                    }
                }
                for e in events.indices where eventBaseline[e] > 0 {
                    eventReduction[e] = min(eventReduction[e], 1 - eventImport[e] / eventBaseline[e])
                    eventImport[e] = 0
                    eventBaseline[e] = 0
                }
                var stepNodeW = 0.0
                var stepHomeW = 0.0
                for (x, homesOn) in members.enumerated() {
                    var total = 0.0
                    var nodes = 0.0
                    for h in homesOn {
                        total += loads[h] + gridImport[h]
                        nodes += gridImport[h]
                    }
                    if nodes > 0, total > transformers[x].ratingWatts + 1e-6 { transformerViolations += 1 }
                    if nodes > 0 { transformerPeakLoading = max(transformerPeakLoading, total / transformers[x].ratingWatts) }
                    transformerPeakAddedW = max(transformerPeakAddedW, nodes)
                    stepNodeW += nodes
                    stepHomeW += total - nodes
                }
                let hourOfDay = min(23, (k * step) / 3600)
                hourlyNodeWh[hourOfDay] += stepNodeW
                hourlyHomeWh[hourOfDay] += stepHomeW
                hourlyAvailable[hourOfDay] += Double(admitting) / Double(homes)
                hourlySpeed[hourOfDay] += admitting > 0 ? available / Double(admitting) : 0
                hourlySteps[hourOfDay] += 1
                peakNodeW = max(peakNodeW, stepNodeW)
                peakHomesW = max(peakHomesW, stepHomeW)
                peakSubstationW = max(peakSubstationW, stepNodeW + stepHomeW)
                if k * step % 21_600 == 7_200 {  // SLO samples at 02:00, 08:00, 14:00, 20:00 each day
                    samples.append((t, u, governors.map(\.mode), governors.map(\.capFraction)))
                }
                // Tightest moment: least capacity relative to demand (after the first hold period).
                let share = available / Double(homes)
                if t >= 3600, share / max(u, 0.05) < tightest.share / max(tightest.u, 0.05) || tightest.modes.isEmpty {
                    tightest = (share, t, u, governors.map(\.mode), governors.map(\.capFraction))
                }
                progress.update(done: day * stepsPerDay + k + 1, total: max(1, totalSteps))
            }
        }
        progress.finish()

        // SLO replays: at every sample and at the tightest moment, the fleet as the governors left it.
        let snapshots = c.fleet.build(nodes: homes, seed: c.seed)
        let perNode = c.loadScalePerNode * Double(homes)
        func attainment(_ nodes: [NodeSnapshot], scale: Double) -> Double {
            guard !nodes.isEmpty, !trace.requests.isEmpty else { return 0 }
            var simulator = Simulator(
                trace: trace, nodes: nodes, policy: .sloAware, configuration: SimulationConfiguration(loadScale: max(scale, 1e-3)))
            var quiet = ProgressReporter(label: "slo", isEnabled: false)
            return ReportBuilder.policyReport(simulator.run(progress: &quiet)).slo_attainment
        }
        func attainment(modes: [PowerGovernor.Mode], caps: [Double], u: Double) -> Double {
            var constrained: [NodeSnapshot] = []
            for (i, var node) in snapshots.enumerated() where i < modes.count && modes[i].isAdmitting {
                let factor = GPUPowerCurve.schedulerFactor(capFraction: caps[i])
                node.profiles = node.profiles.map {
                    var p = $0; p.powerCapFactor = factor; return p
                }
                constrained.append(node)
            }
            return attainment(constrained, scale: perNode * u / max(c.peakUtilization, 1e-9))
        }
        var weighted = 0.0
        var weights = 0.0
        var worst = 1.0
        for sample in c.sloReplays ? samples : [] {
            let a = attainment(modes: sample.modes, caps: sample.caps, u: sample.u)
            weighted += a * sample.u
            weights += sample.u
            worst = min(worst, a)
        }
        let sloTight = tightest.modes.isEmpty || !c.sloReplays ? 0 : attainment(modes: tightest.modes, caps: tightest.caps, u: tightest.u)
        let sloUncapped = c.sloReplays ? attainment(snapshots, scale: perNode) : 0
        func perHour(_ values: [Double], _ scale: Double) -> [Double] {
            (0..<24).map { hourlySteps[$0] > 0 ? values[$0] / hourlySteps[$0] * scale : 0 }
        }

        let nodeSteps = Double(homes * totalSteps)
        return PowerReport(
            homes: homes, transformers: transformerCount, days: c.days, step_s: step, seed: c.seed, trace: trace.path,
            generated_from: trace.generatedFrom, node_full_kw: c.nodeFullWatts / 1000,
            transformer_kva_total: transformers.reduce(0) { $0 + $1.ratingKVA },
            home_types: Dictionary(grouping: types, by: \.rawValue).mapValues(\.count),
            home_limit_violations: homeViolations, transformer_limit_violations: transformerViolations,
            dr_events: events.count, dr_events_met: eventFailed.filter { !$0 }.count,
            node_hours_available_share: Double(availableSteps) / nodeSteps, node_hours_capped_share: Double(cappedSteps) / nodeSteps,
            energy_kwh_per_home: energyWh / 1000 / Double(homes), governor_actions: actions,
            slo_attainment: weights > 0 ? weighted / weights : 0, slo_attainment_worst_sample: samples.isEmpty ? 0 : worst,
            slo_samples: samples.count, slo_attainment_tightest: sloTight, slo_attainment_uncapped: sloUncapped,
            tightest_moment_s: tightest.t,
            tightest_capacity_share: tightest.share.isFinite ? tightest.share : 0, tightest_utilization: tightest.u,
            hourly_node_kw: perHour(hourlyNodeWh, 1e-3), hourly_home_kw: perHour(hourlyHomeWh, 1e-3),
            hourly_available_share: perHour(hourlyAvailable, 1), hourly_prefill_speed: perHour(hourlySpeed, 1),
            peak_node_kw: peakNodeW / 1000, peak_homes_kw: peakHomesW / 1000, peak_substation_kw: peakSubstationW / 1000,
            transformer_peak_loading: transformerPeakLoading, transformer_peak_added_kw: transformerPeakAddedW / 1000,
            dr_min_import_reduction: eventReduction.filter(\.isFinite).min().map { max(0, $0) } ?? 0,
            dr_import_reductions: eventReduction.map { $0.isFinite ? max(0, $0) : 0 },
            battery_kwh: (c.battery?.capacityWattHours ?? 0) / 1000,
            battery_cycles_per_day: governors.reduce(0) { $0 + ($1.battery?.cycles ?? 0) } / Double(homes) / Double(max(1, c.days)),
            full_power_share: Double(fullPowerSteps) / nodeSteps, full_power_share_without_battery: Double(fullPowerSteps) / nodeSteps)
    }
}

/// The result of ``PowerSimulation/run()``; `hearth sim power --json` prints it.
public struct PowerReport: Codable, Sendable, Hashable {
    public var homes: Int
    public var transformers: Int
    public var days: Int
    public var step_s: Int
    public var seed: UInt64
    public var trace: String
    public var generated_from: String?
    public var node_full_kw: Double
    public var transformer_kva_total: Double
    public var home_types: [String: Int]
    public var home_limit_violations: Int
    public var transformer_limit_violations: Int
    public var dr_events: Int
    public var dr_events_met: Int
    /// Share of node-steps in which the node admitted work (normal or capped).
    public var node_hours_available_share: Double
    public var node_hours_capped_share: Double
    /// Energy the node drew, per home, over the run (kWh).
    public var energy_kwh_per_home: Double
    public var governor_actions: Int
    /// SLO attainment (slo-aware), mean over the samples (02:00, 08:00, 14:00, 20:00 daily) weighted by load.
    public var slo_attainment: Double
    /// The least attainment among the samples.
    public var slo_attainment_worst_sample: Double
    public var slo_samples: Int
    /// Attainment at the week's tightest moment (least capacity for the load; 0 when a fleet-wide shed is on).
    public var slo_attainment_tightest: Double
    /// The same replay at peak load with every node uncapped.
    public var slo_attainment_uncapped: Double
    public var tightest_moment_s: Double
    /// Σ prefill speed of admitting nodes ÷ nodes at that moment.
    public var tightest_capacity_share: Double
    public var tightest_utilization: Double
    /// Mean draw of all nodes by hour of day (averaged over the days), kW.
    public var hourly_node_kw: [Double]
    /// Mean load of all homes by hour of day, kW.
    public var hourly_home_kw: [Double]
    /// Share of nodes admitting work (normal or capped), by hour of day.
    public var hourly_available_share: [Double]
    /// Mean prefill speed (``GPUPowerCurve``) of admitting nodes, by hour of day (1 = uncapped).
    public var hourly_prefill_speed: [Double]
    /// Greatest step total of node draw (what the fleet adds at the substation), kW.
    public var peak_node_kw: Double
    /// Greatest step total of home load alone, kW.
    public var peak_homes_kw: Double
    /// Greatest step total of homes + nodes (all transformers), kW.
    public var peak_substation_kw: Double
    /// Greatest (homes + nodes) ÷ (rating × power factor) over transformers and steps in which its nodes drew
    /// (≤ 1 when there is no violation; steps where the homes alone exceed it are not Hearth's).
    public var transformer_peak_loading: Double
    /// Greatest node draw on one transformer in one step, kW.
    public var transformer_peak_added_kw: Double
    /// The smallest fleet-wide reduction of the targeted nodes' grid import, against what they would have drawn, over
    /// every step of every grid event (0–1): what the fleet sustained for each event's whole duration.
    public var dr_min_import_reduction: Double
    /// The same for each event, in order.
    public var dr_import_reductions: [Double]
    /// Each node's battery, kWh (0: none).
    public var battery_kwh: Double
    /// Full battery cycles a day (energy given over capacity), mean over nodes.
    public var battery_cycles_per_day: Double
    /// Share of node-steps at full power (mode normal).
    public var full_power_share: Double
    /// The same with the nodes' batteries taken away (equal to ``full_power_share`` without batteries).
    public var full_power_share_without_battery: Double
}
