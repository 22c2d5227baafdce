public import HearthCore

/// One way to serve the region: a home fleet or one or more data-centre sites, with every assumption stated.
///
/// Defaults (``Deployment/homeFleet(name:)``, ``Deployment/dataCentre(name:)``) and their sources are listed in
/// docs/PLANNER.md; a scenario file overrides any of them by key.
public struct Deployment: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case homeFleet = "home-fleet"
        case dataCentre = "datacentre"
    }

    /// Sweepable parameters (scenario key names).
    public enum Parameter: String, Sendable, Hashable, CaseIterable, Codable {
        /// Total GPUs are kept; nodes = GPUs ÷ this.
        case gpusPerNode = "gpus_per_node"
        case homesPerTransformer = "homes_per_transformer"
        case theftPerNodeYear = "theft_per_node_year"
        case outagesPerNodeYear = "outages_per_node_year"
        /// Sets every site's distance to users.
        case distanceKm = "distance_km"
        case pue
        case accessRTTms = "access_rtt_ms"
        /// Each home node's battery, kWh (0: none).
        case batteryKWh = "battery_kwh"
    }

    public struct Site: Sendable, Hashable {
        public var name: String
        public var latitude: Double?
        public var longitude: Double?
        /// When set, the site is this far from every user centre (overrides coordinates).
        public var distanceKm: Double?
        /// Share of the deployment's GPUs here (normalised over sites).
        public var share: Double
        /// Power available to the site (data centres), MW at the meter; nil for home fleets.
        public var powerMW: Double?
        public init(
            name: String, latitude: Double? = nil, longitude: Double? = nil, distanceKm: Double? = nil, share: Double = 1,
            powerMW: Double? = nil
        ) {
            self.name = name
            self.latitude = latitude
            self.longitude = longitude
            self.distanceKm = distanceKm
            self.share = share
            self.powerMW = powerMW
        }
    }

    public var name: String
    public var kind: Kind
    public var gpu: GPUSpec
    public var gpusPerNode: Int
    /// Serving engines a node runs, its GPUs split evenly among them (the node as built: 16 GPUs, eight 2-GPU
    /// replicas of an 8B model). They share the node's power: drained or capped together. Default 1.
    public var replicasPerNode = 1
    /// Total GPUs (before ``Scenario/scale``); nil = as many as the sites' power allows (data centres).
    public var gpus: Int?
    public var sites: [Site]

    // Power.
    /// Facility power ÷ IT power. Homes: 1.0 (the node's own fans and PSU losses are in its draw).
    public var pue: Double
    /// Host (CPU, memory, NICs, fans, PSU loss) per node, W, plus ``hostWattsPerGPU`` per GPU.
    public var hostWattsPerNode: Double
    public var hostWattsPerGPU: Double
    /// Node draw when idle as a share of full draw.
    public var idleShare: Double
    /// Homes sharing one distribution transformer (home fleets).
    public var homesPerTransformer: Int
    /// Node utilisation at the daily peak that drives the home power simulation (home fleets).
    public var peakUtilization: Double
    /// Each home node's battery (0: none): capacity, kWh; charge and discharge limit, kW; the reserve the governor
    /// keeps, share of capacity; installed price, USD per kWh (an assumption: docs/PLANNING.md).
    public var batteryKWh = 0.0
    public var batteryKW = 5.0
    public var batteryReserve = 0.2
    public var batteryUSDPerKWh = 500.0

    // Network.
    /// Access-network round trip, ms (residential last mile, or the data centre's own fabric and edge).
    public var accessRTTms: Double
    /// Mean of the exponential jitter added to each request's first token, ms.
    public var jitterMs: Double
    public var uplinkMbps: Double
    public var downlinkMbps: Double
    /// Radius of a metro area: the least distance between a user and a site in the same city, km.
    public var metroKm: Double

    // Faults.
    public var theftPerNodeYear: Double
    public var outagesPerNodeYear: Double
    public var outageHours: Double
    /// Days to replace a stolen node.
    public var replacementDays: Double

    // Money (USD).
    public var gpuPriceUSD: Double
    /// Everything in a node but its GPUs (chassis, CPU, memory, enclosure), per node.
    public var nodePriceUSD: Double
    /// Per node install (home: electrician, 240 V circuit, mounting, panel monitor).
    public var installPerNodeUSD: Double
    /// Building, power and cooling per MW of facility power (data centres).
    public var buildUSDPerMW: Double
    public var hardwareLifeYears: Double
    public var buildingLifeYears: Double
    /// Maintenance, staff, insurance per year as a share of capex.
    public var maintenanceShare: Double
    /// Fixed payment to the host per node and month (homes), or network/transit per node and month.
    public var sitePaymentPerNodeMonthUSD: Double
    /// Years from the interconnection request to power (reported, not costed).
    public var interconnectQueueYears: Double

    /// Full draw of one node at its maximum power limit, W.
    public var nodeFullWatts: Double { hostWattsPerNode + Double(gpusPerNode) * (gpu.boardPowerWatts + hostWattsPerGPU) }
    public var nodeIdleWatts: Double { nodeFullWatts * idleShare }

    /// Home fleet defaults: residential links, homes' own theft and outage risk, small nodes.
    public static func homeFleet(name: String) -> Deployment {
        Deployment(
            name: name, kind: .homeFleet, gpu: .rtxPro6000Blackwell, gpusPerNode: 2, gpus: nil, sites: [], pue: 1.0, hostWattsPerNode: 250,
            hostWattsPerGPU: 25, idleShare: 0.15, homesPerTransformer: 8, peakUtilization: 0.9, accessRTTms: 18, jitterMs: 6,
            uplinkMbps: 20,
            downlinkMbps: 200, metroKm: 20, theftPerNodeYear: 0.01, outagesPerNodeYear: 4, outageHours: 3, replacementDays: 14,
            gpuPriceUSD: 8_500, nodePriceUSD: 3_000, installPerNodeUSD: 2_000, buildUSDPerMW: 0, hardwareLifeYears: 5,
            buildingLifeYears: 15,
            maintenanceShare: 0.05, sitePaymentPerNodeMonthUSD: 30, interconnectQueueYears: 0)
    }

    /// Data-centre defaults: 8-GPU servers, industrial power, hyperscale-class fabric.
    public static func dataCentre(name: String) -> Deployment {
        Deployment(
            name: name, kind: .dataCentre, gpu: .h100SXM, gpusPerNode: 8, gpus: nil, sites: [], pue: 1.3, hostWattsPerNode: 600,
            hostWattsPerGPU: 500, idleShare: 0.25, homesPerTransformer: 0, peakUtilization: 0.9, accessRTTms: 1, jitterMs: 0.3,
            uplinkMbps: 100_000, downlinkMbps: 100_000, metroKm: 20, theftPerNodeYear: 0, outagesPerNodeYear: 0.05, outageHours: 4,
            replacementDays: 2, gpuPriceUSD: 25_000, nodePriceUSD: 60_000, installPerNodeUSD: 2_000, buildUSDPerMW: 11_000_000,
            hardwareLifeYears: 5, buildingLifeYears: 15, maintenanceShare: 0.03, sitePaymentPerNodeMonthUSD: 150, interconnectQueueYears: 5)
    }

    /// All-in electrical draw per GPU at the meter (host share and PUE included), W.
    public var facilityWattsPerGPU: Double { nodeFullWatts / Double(gpusPerNode) * pue }

    /// GPUs the sites' power allows: Σ power ÷ (facility W per GPU), rounded down to whole nodes.
    public var gpusFromPower: Int? {
        let mw = sites.compactMap(\.powerMW).reduce(0, +)
        guard mw > 0 else { return nil }
        let nodes = Int(mw * 1e6 / (nodeFullWatts * pue))
        return nodes * gpusPerNode
    }

    /// The GPU count this deployment runs with (before scale).
    public var totalGPUs: Int { gpus ?? gpusFromPower ?? 0 }

    /// Returns a copy with `parameter` set to `value` (for sweeps).
    public func with(_ parameter: Parameter, _ value: Double) -> Deployment {
        var d = self
        switch parameter {
        case .gpusPerNode:
            let total = totalGPUs
            d.gpusPerNode = max(1, Int(value))
            d.gpus = total
        case .homesPerTransformer: d.homesPerTransformer = max(1, Int(value))
        case .theftPerNodeYear: d.theftPerNodeYear = value
        case .outagesPerNodeYear: d.outagesPerNodeYear = value
        case .distanceKm:
            d.sites = d.sites.map {
                var s = $0; s.distanceKm = value; return s
            }
        case .pue: d.pue = value
        case .accessRTTms: d.accessRTTms = value
        case .batteryKWh: d.batteryKWh = max(0, value)
        }
        return d
    }
}
