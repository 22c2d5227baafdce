public import HearthCore

/// A planning question: one region's demand, where its users are, and the deployments to compare on it.
///
/// Read from a scenario file (``Scenario/read(text:file:)``; format in docs/PLANNER.md and the commented
/// `examples/plan-home-vs-datacentre.toml`). Every field has a documented default except the deployments.
public struct Scenario: Sendable {
    public var name: String
    public var seed: UInt64
    /// Multiplies every deployment's GPU count and the demand rate (0.01 = a 1 % model of the region), so one
    /// scenario runs small in CI and at full scale for the figures. Per-token figures are scale-free to first order.
    public var scale: Double
    /// Counted seconds simulated per window (one window per simulated hour), at that hour's rate.
    public var durationSeconds: Double
    /// Which hours of the day are simulated: 1 = the busy hour only; 24 = every hour of a day, each by a window of
    /// ``durationSeconds`` at that hour's rate and (home fleets) with that hour's power state.
    public var hours: Int = 1
    /// Seconds simulated before each window's counted part so the fleet is not measured empty; not counted.
    public var warmupSeconds: Double = 0
    /// When set, every deployment must total this many GPUs (before ``scale``): a like-for-like comparison.
    public var gpus: Int?
    /// The scenario file (named in errors found at run time, such as an unreadable trace).
    public var file: String = ""
    public var policy: SchedulingPolicyKind
    public var model: ModelSpec
    public var demand: Demand
    public var users: [UserCentre]
    public var deployments: [Deployment]
    public var sweep: Sweep?
    public var prices: Prices

    public init(
        name: String, seed: UInt64 = 1, scale: Double = 1, durationSeconds: Double = 600, policy: SchedulingPolicyKind = .sloAware,
        model: ModelSpec = .llama31_8B, demand: Demand, users: [UserCentre], deployments: [Deployment], sweep: Sweep? = nil,
        prices: Prices = Prices()
    ) {
        self.name = name
        self.seed = seed
        self.scale = scale
        self.durationSeconds = durationSeconds
        self.policy = policy
        self.model = model
        self.demand = demand
        self.users = users
        self.deployments = deployments
        self.sweep = sweep
        self.prices = prices
    }

    /// The region's demand: traces mixed by share, replayed at `ratePerSecond` (before ``Scenario/scale``).
    public struct Demand: Sendable, Hashable {
        public struct Source: Sendable, Hashable {
            /// Read at run time; when absent, ``TraceGenerator`` stands in and the report says so.
            public var path: String
            /// Share of requests from this trace (the shares are normalised).
            public var share: Double
            /// Line of `path` in the scenario file (0 when built in code), for errors found when the trace is read.
            public var line: Int
            public init(path: String, share: Double, line: Int = 0) {
                self.path = path
                self.share = share
                self.line = line
            }
        }

        public var ratePerSecond: Double
        public var traces: [Source]
        public init(ratePerSecond: Double, traces: [Source]) {
            self.ratePerSecond = ratePerSecond
            self.traces = traces
        }
    }

    /// A population centre: requests come from here in proportion to `weight`.
    public struct UserCentre: Sendable, Hashable {
        public var name: String
        public var latitude: Double
        public var longitude: Double
        public var weight: Double
        public init(name: String, latitude: Double, longitude: Double, weight: Double) {
            self.name = name
            self.latitude = latitude
            self.longitude = longitude
            self.weight = weight
        }
    }

    /// Electricity prices and finance, shared by every deployment.
    public struct Prices: Sendable, Hashable {
        /// US average residential price 2024, ≈ 16.5 ¢/kWh (EIA Electric Power Monthly, table 5.3). Hearth pays hosts this.
        public var residentialUSDPerKWh: Double = 0.165
        /// US average industrial price 2024, ≈ 8.1 ¢/kWh (EIA Electric Power Monthly, table 5.3).
        public var industrialUSDPerKWh: Double = 0.081
        /// Weighted cost of capital for annualising capex (capital recovery factor). Assumption.
        public var discountRate: Double = 0.08
        public init() {}
    }

    /// Which parameter of which deployment to vary, one value per run.
    public struct Sweep: Sendable, Hashable {
        public var deployment: String
        public var parameter: Deployment.Parameter
        public var values: [Double]
        public init(deployment: String, parameter: Deployment.Parameter, values: [Double]) {
            self.deployment = deployment
            self.parameter = parameter
            self.values = values
        }
    }
}
