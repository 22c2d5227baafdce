/// How much the node may draw from the home's service at one moment.
///
/// `budget = min(node cap, continuous fraction × service rating − home live load − margin)`, in watts at the
/// service voltage, never below zero. With the defaults (80 A node cap, 80 % continuous limit per NEC
/// 210.19/215.2 and 230.42 for continuous loads, 240 V split phase, 2 A margin) a 200 A service gives the
/// node at most 19.2 kW, and 38.4 kW − home load − 0.48 kW when the home is busy.
///
/// When the panel reports leg currents the budget is computed per leg in amps (a 120 V load loads one leg;
/// the node is a balanced 240 V load), which is tighter than the power figure for unbalanced homes.
public struct PowerBudget: Sendable, Hashable, Codable {
    public struct Configuration: Sendable, Hashable, Codable {
        /// The node's own circuit limit, amps (80 A of a 200 A service).
        public var nodeCapAmps: Double
        /// Share of the service rating usable continuously (NEC: 80 %).
        public var continuousFraction: Double
        /// Kept free for the home's sudden loads before the governor reacts, amps.
        public var marginAmps: Double
        /// Used when a reading has no voltage of its own (240 V split phase).
        public var nominalVoltage: Double

        public init(nodeCapAmps: Double = 80, continuousFraction: Double = 0.8, marginAmps: Double = 2, nominalVoltage: Double = 240) {
            self.nodeCapAmps = nodeCapAmps
            self.continuousFraction = continuousFraction
            self.marginAmps = marginAmps
            self.nominalVoltage = nominalVoltage
        }
    }

    /// What the node may draw, watts (0 when there is no headroom or the reading is unknown).
    public var watts: Double
    /// The same in amps at the service voltage.
    public var amps: Double
    /// The home's continuous limit, watts (rating × continuous fraction × voltage).
    public var continuousLimitWatts: Double
    /// False when the reading was implausible: the budget is then zero (fail safe).
    public var isKnown: Bool

    public init(watts: Double, amps: Double, continuousLimitWatts: Double, isKnown: Bool) {
        self.watts = watts
        self.amps = amps
        self.continuousLimitWatts = continuousLimitWatts
        self.isKnown = isKnown
    }

    /// The budget for a reading. An implausible reading (``PanelReading/isPlausible``) gives zero.
    public static func compute(_ reading: PanelReading, configuration: Configuration = Configuration()) -> PowerBudget {
        let voltage = reading.voltage.isFinite && reading.voltage > 0 ? reading.voltage : configuration.nominalVoltage
        guard reading.isPlausible, let homeWatts = reading.homeLoadWatts else {
            return PowerBudget(watts: 0, amps: 0, continuousLimitWatts: 0, isKnown: false)
        }
        let continuousAmps = configuration.continuousFraction * reading.breakerRatingAmps
        let homeAmps = max(homeWatts / voltage, reading.homeLegCurrentAmps ?? 0)
        let amps = max(0, min(configuration.nodeCapAmps, continuousAmps - homeAmps - configuration.marginAmps))
        return PowerBudget(watts: amps * voltage, amps: amps, continuousLimitWatts: continuousAmps * voltage, isKnown: true)
    }

    /// The budget for a known home load in watts (no leg currents), for planners and the simulator.
    public static func compute(
        homeLoadWatts: Double, breakerRatingAmps: Double = 200, voltage: Double = 240, configuration: Configuration = Configuration()
    ) -> PowerBudget {
        compute(
            PanelReading(homeLoadWatts: homeLoadWatts, breakerRatingAmps: breakerRatingAmps, voltage: voltage, at: 0),
            configuration: configuration)
    }
}
