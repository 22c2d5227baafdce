import Foundation
import HearthCore

extension Scenario {
    /// Reads a scenario file. Errors name the file, the line and the dotted field (`deployment[2].pue`).
    public static func read(path: String) throws(PlanError) -> Scenario {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PlanError(.io, field: "", "cannot read the scenario file", file: path, line: 0)
        }
        return try read(text: String(decoding: data, as: UTF8.self), file: path)
    }

    /// Parses and validates scenario text (`file` names it in errors).
    public static func read(text: String, file: String) throws(PlanError) -> Scenario {
        let document = try TOMLDocument(text: text, file: file)
        var reader = ScenarioReader(file: file, endLine: document.lineCount)
        return try reader.scenario(document.root)
    }
}

/// Turns the parsed TOML tree into a ``Scenario``, checking types, ranges, unknown keys and consistency.
struct ScenarioReader {
    let file: String
    /// Where a missing table is reported (the end of the file: it was not found before it).
    let endLine: Int

    // MARK: Field access

    struct Fields {
        let table: TOMLDocument.Table
        let path: String
        let file: String
        var used: Set<String> = []

        init(_ table: TOMLDocument.Table, path: String, file: String) {
            self.table = table
            self.path = path
            self.file = file
        }

        func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        func line(_ key: String) -> Int { table.scalars[key]?.line ?? table.line }

        func error(_ key: String, _ message: String, _ code: PlanError.Code = .invalidValue) -> PlanError {
            PlanError(code, field: name(key), message, file: file, line: line(key))
        }

        mutating func raw(_ key: String) -> TOMLDocument.Scalar? {
            used.insert(key)
            return table.scalars[key]?.value
        }

        mutating func string(_ key: String) throws(PlanError) -> String? {
            guard let value = raw(key) else { return nil }
            guard case .string(let s) = value else { throw error(key, "expected a string in double quotes") }
            return s
        }

        mutating func number(_ key: String, min lower: Double? = nil, max upper: Double? = nil, above: Double? = nil) throws(PlanError)
            -> Double?
        {
            guard let value = raw(key) else { return nil }
            let x: Double
            switch value {
            case .integer(let n): x = Double(n)
            case .float(let f): x = f
            default: throw error(key, "expected a number")
            }
            if let lower, x < lower { throw error(key, "must be at least \(lower), got \(x)") }
            if let upper, x > upper { throw error(key, "must be at most \(upper), got \(x)") }
            if let above, x <= above { throw error(key, "must be greater than \(above), got \(x)") }
            return x
        }

        mutating func integer(_ key: String, min lower: Int = 0) throws(PlanError) -> Int? {
            guard let value = raw(key) else { return nil }
            guard case .integer(let n) = value else { throw error(key, "expected an integer") }
            if n < lower { throw error(key, "must be at least \(lower), got \(n)") }
            return n
        }

        mutating func numbers(_ key: String) throws(PlanError) -> [Double]? {
            guard let value = raw(key) else { return nil }
            guard case .array(let items) = value, !items.isEmpty else { throw error(key, "expected a non-empty array of numbers") }
            var out: [Double] = []
            for item in items {
                switch item {
                case .integer(let n): out.append(Double(n))
                case .float(let f): out.append(f)
                default: throw error(key, "expected a non-empty array of numbers")
                }
            }
            return out
        }

        mutating func require<T>(_ value: T?, _ key: String) throws(PlanError) -> T {
            guard let value else { throw PlanError(.missingField, field: name(key), "is required", file: file, line: table.line) }
            return value
        }

        /// Rejects keys that were never asked for (usually typos).
        func finish(allowingTables: Set<String> = []) throws(PlanError) {
            for (key, entry) in table.scalars where !used.contains(key) {
                throw PlanError(
                    .unknownKey, field: name(key), "unknown key (see docs/PLANNER.md for the format)", file: file, line: entry.line)
            }
            for key in Set(table.tables.keys).union(table.arrays.keys) where !allowingTables.contains(key) {
                let line = table.tables[key]?.line ?? table.arrays[key]?.first?.line ?? table.line
                throw PlanError(.unknownKey, field: name(key), "unknown table (see docs/PLANNER.md for the format)", file: file, line: line)
            }
        }
    }

    // MARK: Scenario

    mutating func scenario(_ root: TOMLDocument.Table) throws(PlanError) -> Scenario {
        let top = Fields(root, path: "", file: file)
        try top.finish(allowingTables: ["scenario", "demand", "users", "deployment", "sweep", "prices"])

        var s = Fields(root.tables["scenario"] ?? TOMLDocument.Table(line: 0), path: "scenario", file: file)
        let name = try s.string("name") ?? "scenario"
        let seed = try s.integer("seed") ?? 1
        let scale = try s.number("scale", above: 0) ?? 1
        let duration = try s.number("duration_s", above: 0) ?? 600
        let hours = try s.integer("hours", min: 1) ?? 1
        guard hours == 1 || hours == 24 else {
            throw s.error("hours", "must be 1 (the busy hour) or 24 (every hour of a day), got \(hours)")
        }
        let warmup = try s.number("warmup_s", min: 0) ?? 0
        let gpuTotal = try s.integer("gpus", min: 1)
        var policy = SchedulingPolicyKind.sloAware
        if let p = try s.string("policy") {
            guard let kind = SchedulingPolicyKind(rawValue: p) else {
                throw s.error(
                    "policy", "unknown policy '\(p)'; known: \(SchedulingPolicyKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            policy = kind
        }
        try s.finish()

        guard let demandTable = root.tables["demand"] else {
            throw PlanError(
                .missingField, field: "demand", "a [demand] table is required (none before the end of the file)", file: file, line: endLine)
        }
        var d = Fields(demandTable, path: "demand", file: file)
        let rate = try d.require(try d.number("rate_rps", above: 0), "rate_rps")
        try d.finish(allowingTables: ["trace"])
        var sources: [Scenario.Demand.Source] = []
        for (i, table) in (demandTable.arrays["trace"] ?? []).enumerated() {
            var t = Fields(table, path: "demand.trace[\(i)]", file: file)
            let path = try t.require(try t.string("path"), "path")
            let share = try t.number("share", above: 0) ?? 1
            try t.finish()
            if !FileManager.default.fileExists(atPath: path), !Self.generatorKnows(path) {
                throw t.error(
                    "path",
                    "no such trace file, and no published statistics to generate one from (known: Azure code/conversation, Mooncake)"
                )
            }
            sources.append(.init(path: path, share: share, line: t.line("path")))
        }
        guard !sources.isEmpty else {
            throw PlanError(
                .missingField, field: "demand.trace", "at least one [[demand.trace]] is required", file: file, line: demandTable.line)
        }

        var users: [Scenario.UserCentre] = []
        for (i, table) in (root.arrays["users"] ?? []).enumerated() {
            var u = Fields(table, path: "users[\(i)]", file: file)
            let user = Scenario.UserCentre(
                name: try u.string("name") ?? "users-\(i)", latitude: try u.require(try u.number("lat", min: -90, max: 90), "lat"),
                longitude: try u.require(try u.number("lon", min: -180, max: 180), "lon"), weight: try u.number("weight", above: 0) ?? 1)
            try u.finish()
            users.append(user)
        }
        guard !users.isEmpty else {
            throw PlanError(
                .missingField, field: "users", "at least one [[users]] centre is required (none before the end of the file)", file: file,
                line: endLine)
        }

        var prices = Scenario.Prices()
        if let table = root.tables["prices"] {
            var p = Fields(table, path: "prices", file: file)
            prices.residentialUSDPerKWh = try p.number("residential_usd_per_kwh", min: 0) ?? prices.residentialUSDPerKWh
            prices.industrialUSDPerKWh = try p.number("industrial_usd_per_kwh", min: 0) ?? prices.industrialUSDPerKWh
            prices.discountRate = try p.number("discount_rate", min: 0, max: 1) ?? prices.discountRate
            try p.finish()
        }

        var deployments: [Deployment] = []
        for (i, table) in (root.arrays["deployment"] ?? []).enumerated() {
            let deployment = try self.deployment(table, path: "deployment[\(i)]", users: users)
            if deployments.contains(where: { $0.name == deployment.name }) {
                throw PlanError(
                    .inconsistent, field: "deployment[\(i)].name", "duplicate deployment name '\(deployment.name)'", file: file,
                    line: table.scalars["name"]?.line ?? table.line)
            }
            deployments.append(deployment)
        }
        guard !deployments.isEmpty else {
            throw PlanError(
                .missingField, field: "deployment", "at least one [[deployment]] is required (none before the end of the file)", file: file,
                line: endLine)
        }

        var sweep: Scenario.Sweep?
        if let table = root.tables["sweep"] {
            var w = Fields(table, path: "sweep", file: file)
            let target = try w.require(try w.string("deployment"), "deployment")
            guard deployments.contains(where: { $0.name == target }) else {
                throw w.error("deployment", "no deployment named '\(target)'", .inconsistent)
            }
            let parameterName = try w.require(try w.string("parameter"), "parameter")
            guard let parameter = Deployment.Parameter(rawValue: parameterName) else {
                throw w.error(
                    "parameter",
                    "unknown parameter '\(parameterName)'; sweepable: \(Deployment.Parameter.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            let values = try w.require(try w.numbers("values"), "values")
            if parameter == .gpusPerNode || parameter == .homesPerTransformer, values.contains(where: { $0 < 1 || $0 != $0.rounded() }) {
                throw w.error("values", "\(parameterName) values must be positive integers")
            }
            try w.finish()
            sweep = Scenario.Sweep(deployment: target, parameter: parameter, values: values)
        }

        if let gpuTotal {
            for (i, (d, table)) in zip(deployments, root.arrays["deployment"] ?? []).enumerated() where d.totalGPUs != gpuTotal {
                let key = ["homes", "gpus", "gpus_per_node"].first { table.scalars[$0] != nil }
                throw PlanError(
                    .inconsistent, field: "deployment[\(i)].\(key ?? "gpus")",
                    "'\(d.name)' has \(d.totalGPUs) GPUs but [scenario] gpus = \(gpuTotal) (every deployment is sized to the same count)",
                    file: file, line: key.flatMap { table.scalars[$0]?.line } ?? table.line)
            }
        }

        var scenario = Scenario(
            name: name, seed: UInt64(seed), scale: scale, durationSeconds: duration, policy: policy,
            demand: .init(ratePerSecond: rate, traces: sources),
            users: users, deployments: deployments, sweep: sweep, prices: prices)
        scenario.hours = hours
        scenario.warmupSeconds = warmup
        scenario.gpus = gpuTotal
        scenario.file = file
        return scenario
    }

    /// Whether ``TraceGenerator`` has published statistics for an absent trace of this name (its fallback for any
    /// other name would silently stand in for a mistyped path, so the planner refuses those).
    static func generatorKnows(_ path: String) -> Bool {
        let name = (path.split(separator: "/").last.map(String.init) ?? path).lowercased()
        return ["azure", "code", "conv", "mooncake"].contains { name.contains($0) } || name.hasSuffix(".jsonl")
    }

    // MARK: Deployment

    func deployment(_ table: TOMLDocument.Table, path: String, users: [Scenario.UserCentre]) throws(PlanError) -> Deployment {
        var f = Fields(table, path: path, file: file)
        let name = try f.require(try f.string("name"), "name")
        let kindName = try f.require(try f.string("kind"), "kind")
        guard let kind = Deployment.Kind(rawValue: kindName) else {
            throw f.error("kind", "unknown kind '\(kindName)'; expected home-fleet or datacentre")
        }
        var d = kind == .homeFleet ? Deployment.homeFleet(name: name) : Deployment.dataCentre(name: name)
        if let g = try f.string("gpu") {
            guard let spec = GPUSpec.known.first(where: { $0.name == g }) else {
                throw f.error("gpu", "unknown GPU '\(g)'; known: \(GPUSpec.known.map(\.name).joined(separator: ", "))")
            }
            d.gpu = spec
        }
        d.gpusPerNode = try f.integer("gpus_per_node", min: 1) ?? d.gpusPerNode
        d.replicasPerNode = try f.integer("replicas_per_node", min: 1) ?? d.replicasPerNode
        let homes = try f.integer("homes", min: 1)
        let gpus = try f.integer("gpus", min: 1)
        if kind == .homeFleet {
            if gpus != nil && homes != nil { throw f.error("gpus", "give either homes or gpus, not both", .inconsistent) }
            guard let count = homes.map({ $0 * d.gpusPerNode }) ?? gpus else {
                throw PlanError(
                    .missingField, field: f.name("homes"), "a home fleet needs homes (one node each) or gpus", file: file, line: table.line)
            }
            d.gpus = count
        } else {
            if homes != nil { throw f.error("homes", "only home fleets have homes", .inconsistent) }
            d.gpus = gpus
        }
        d.pue = try f.number("pue", min: 1, max: 3) ?? d.pue
        d.hostWattsPerNode = try f.number("host_watts_per_node", min: 0) ?? d.hostWattsPerNode
        d.hostWattsPerGPU = try f.number("host_watts_per_gpu", min: 0) ?? d.hostWattsPerGPU
        d.idleShare = try f.number("idle_share", min: 0, max: 1) ?? d.idleShare
        d.homesPerTransformer = try f.integer("homes_per_transformer", min: 1) ?? d.homesPerTransformer
        d.peakUtilization = try f.number("peak_utilization", min: 0, max: 1) ?? d.peakUtilization
        d.batteryKWh = try f.number("battery_kwh", min: 0, max: 1_000) ?? d.batteryKWh
        d.batteryKW = try f.number("battery_kw", max: 1_000, above: 0) ?? d.batteryKW
        d.batteryReserve = try f.number("battery_reserve", min: 0, max: 0.9) ?? d.batteryReserve
        d.batteryUSDPerKWh = try f.number("battery_usd_per_kwh", min: 0) ?? d.batteryUSDPerKWh
        if kind == .dataCentre, d.batteryKWh > 0 {
            throw f.error("battery_kwh", "a node battery is for home fleets (a data centre's UPS is in its build cost)", .inconsistent)
        }
        d.accessRTTms = try f.number("access_rtt_ms", min: 0) ?? d.accessRTTms
        d.jitterMs = try f.number("jitter_ms", min: 0) ?? d.jitterMs
        d.uplinkMbps = try f.number("uplink_mbps", above: 0) ?? d.uplinkMbps
        d.downlinkMbps = try f.number("downlink_mbps", above: 0) ?? d.downlinkMbps
        d.metroKm = try f.number("metro_km", min: 0) ?? d.metroKm
        d.theftPerNodeYear = try f.number("theft_per_node_year", min: 0) ?? d.theftPerNodeYear
        d.outagesPerNodeYear = try f.number("outages_per_node_year", min: 0) ?? d.outagesPerNodeYear
        d.outageHours = try f.number("outage_hours", min: 0) ?? d.outageHours
        d.replacementDays = try f.number("replacement_days", min: 0) ?? d.replacementDays
        d.gpuPriceUSD = try f.number("gpu_price_usd", min: 0) ?? d.gpuPriceUSD
        d.nodePriceUSD = try f.number("node_price_usd", min: 0) ?? d.nodePriceUSD
        d.installPerNodeUSD = try f.number("install_per_node_usd", min: 0) ?? d.installPerNodeUSD
        d.buildUSDPerMW = try f.number("build_usd_per_mw", min: 0) ?? d.buildUSDPerMW
        d.hardwareLifeYears = try f.number("hardware_life_years", above: 0) ?? d.hardwareLifeYears
        d.buildingLifeYears = try f.number("building_life_years", above: 0) ?? d.buildingLifeYears
        d.maintenanceShare = try f.number("maintenance_share", min: 0, max: 1) ?? d.maintenanceShare
        d.sitePaymentPerNodeMonthUSD = try f.number("site_payment_per_node_month_usd", min: 0) ?? d.sitePaymentPerNodeMonthUSD
        d.interconnectQueueYears = try f.number("interconnect_queue_years", min: 0) ?? d.interconnectQueueYears
        try f.finish(allowingTables: ["site"])

        for (i, siteTable) in (table.arrays["site"] ?? []).enumerated() {
            var s = Fields(siteTable, path: "\(path).site[\(i)]", file: file)
            let site = Deployment.Site(
                name: try s.string("name") ?? "\(name)-\(i)", latitude: try s.number("lat", min: -90, max: 90),
                longitude: try s.number("lon", min: -180, max: 180), distanceKm: try s.number("distance_km", min: 0),
                share: try s.number("share", above: 0) ?? 1, powerMW: try s.number("power_mw", above: 0))
            if site.distanceKm == nil, site.latitude == nil || site.longitude == nil {
                throw PlanError(
                    .missingField, field: s.name("lat"), "a site needs lat and lon, or distance_km", file: file, line: siteTable.line)
            }
            if kind == .homeFleet, site.powerMW != nil {
                throw s.error("power_mw", "home neighbourhoods take power from their homes' service, not power_mw", .inconsistent)
            }
            try s.finish()
            d.sites.append(site)
        }
        if d.sites.isEmpty {
            guard kind == .homeFleet else {
                throw PlanError(
                    .missingField, field: "\(path).site", "a data centre needs at least one [[deployment.site]]", file: file,
                    line: table.line)
            }
            // Homes by default live where the users live, in proportion to population.
            d.sites = users.map {
                Deployment.Site(name: "\(name) @ \($0.name)", latitude: $0.latitude, longitude: $0.longitude, share: $0.weight)
            }
        }
        if kind == .dataCentre {
            guard d.totalGPUs > 0 else {
                throw PlanError(
                    .missingField, field: f.name("gpus"), "give gpus, or power_mw on the sites to size GPUs from power and PUE", file: file,
                    line: table.line)
            }
            if let allowed = d.gpusFromPower, let wanted = d.gpus, wanted > allowed {
                let mw = Double(wanted) * d.facilityWattsPerGPU / 1e6
                throw f.error(
                    "gpus",
                    "\(wanted) GPUs need \(String(format: "%.1f", mw)) MW at PUE \(d.pue) but the sites' power_mw allows \(allowed)",
                    .inconsistent)
            }
        }
        if d.totalGPUs % d.gpusPerNode != 0 {
            throw f.error("gpus_per_node", "\(d.totalGPUs) GPUs do not divide into nodes of \(d.gpusPerNode)", .inconsistent)
        }
        if d.gpusPerNode % d.replicasPerNode != 0 {
            throw f.error(
                "replicas_per_node", "\(d.gpusPerNode) GPUs per node do not divide into \(d.replicasPerNode) replicas", .inconsistent)
        }
        return d
    }
}
