/// The node's own battery (the node as built carries 15 kWh): how much it holds, and how much it may give or take
/// now. A value type the ``PowerGovernor`` drives: it sets the flow after each decision and the battery integrates
/// it over the time to the next event (`now` is the governor's monotonic seconds).
///
/// Rules:
/// - Energy: discharging `w` watts for `t` seconds takes `w·t / 3600 / √η` Wh from the cells, charging puts in
///   `w·t / 3600 · √η` (η: round-trip efficiency, split evenly between the two ways).
/// - **Reserve**: the battery gives nothing at or below ``Configuration/reserveFraction`` (the operator keeps it for
///   outages and the grid's events), and gives again only once it is back above the reserve by
///   ``Configuration/reserveHysteresisFraction``, so it does not flap at the reserve.
/// - **Charging** from the grid headroom the node leaves: up to full in hours marked cheap (a tariff or the
///   operator), otherwise only up to ``Configuration/chargeOutsideCheapHoursToFraction``; it starts again below full
///   only once it has fallen ``Configuration/rechargeHysteresisFraction`` under its target.
public struct NodeBattery: Sendable, Hashable, Codable {
    public struct Configuration: Sendable, Hashable, Codable {
        public var capacityWattHours: Double
        public var maxChargeWatts: Double
        public var maxDischargeWatts: Double
        /// Energy out over energy in for a full cycle (0–1].
        public var roundTripEfficiency: Double
        /// Share of the capacity kept back, 0–1.
        public var reserveFraction: Double
        public var reserveHysteresisFraction: Double
        /// Where charging stops outside cheap hours, 0–1 (at least the reserve).
        public var chargeOutsideCheapHoursToFraction: Double
        public var rechargeHysteresisFraction: Double

        public init(
            capacityWattHours: Double = 15_000, maxChargeWatts: Double = 5_000, maxDischargeWatts: Double = 10_000,
            roundTripEfficiency: Double = 0.9, reserveFraction: Double = 0.2, reserveHysteresisFraction: Double = 0.05,
            chargeOutsideCheapHoursToFraction: Double = 0.6, rechargeHysteresisFraction: Double = 0.05
        ) {
            self.capacityWattHours = max(0, capacityWattHours.isFinite ? capacityWattHours : 0)
            self.maxChargeWatts = max(0, maxChargeWatts.isFinite ? maxChargeWatts : 0)
            self.maxDischargeWatts = max(0, maxDischargeWatts.isFinite ? maxDischargeWatts : 0)
            self.roundTripEfficiency = roundTripEfficiency.isFinite ? min(1, max(0.01, roundTripEfficiency)) : 1
            self.reserveFraction = Self.fraction(reserveFraction)
            self.reserveHysteresisFraction = Self.fraction(reserveHysteresisFraction)
            self.chargeOutsideCheapHoursToFraction = max(self.reserveFraction, Self.fraction(chargeOutsideCheapHoursToFraction))
            self.rechargeHysteresisFraction = Self.fraction(rechargeHysteresisFraction)
        }

        /// A battery that charges and discharges at the same rate, in the units operators give (kWh, kW).
        public init(kilowattHours: Double, kilowatts: Double, reserveFraction: Double = 0.2) {
            self.init(
                capacityWattHours: kilowattHours * 1_000, maxChargeWatts: kilowatts * 1_000, maxDischargeWatts: kilowatts * 1_000,
                reserveFraction: reserveFraction)
        }

        private static func fraction(_ x: Double) -> Double { x.isFinite ? min(1, max(0, x)) : 0 }
    }

    public let configuration: Configuration
    /// Energy in the cells, Wh.
    public private(set) var storedWattHours: Double
    /// The flow set for now: positive while the battery gives to the node, negative while it charges, watts.
    public private(set) var flowWatts: Double = 0
    /// Whether the battery may give now (false from reaching the reserve until it is back above it with the band).
    public private(set) var mayDischarge: Bool
    /// Whether charging is under way toward its target (false once there, until it falls under it with the band).
    public private(set) var charging: Bool = true
    /// Whether this hour is marked cheap (the agent says so from its tariff or the operator's hours).
    public var cheapHour = false
    /// Energy given and taken at the terminals since the start, Wh (for cycle counts and the ledger).
    public private(set) var dischargedWattHours: Double = 0
    public private(set) var chargedWattHours: Double = 0
    private var lastAt: Double?

    public init(configuration: Configuration, stateOfCharge: Double = 1) {
        self.configuration = configuration
        let start = stateOfCharge.isFinite ? min(1, max(0, stateOfCharge)) : 0
        storedWattHours = configuration.capacityWattHours * start
        mayDischarge = start > configuration.reserveFraction
    }

    /// 0–1.
    public var stateOfCharge: Double {
        configuration.capacityWattHours > 0 ? storedWattHours / configuration.capacityWattHours : 0
    }

    /// What the battery may give the node now, watts.
    public var availableDischargeWatts: Double { mayDischarge ? configuration.maxDischargeWatts : 0 }

    /// What the battery may take now, watts (0 once at its target for this hour).
    public var acceptableChargeWatts: Double { charging && stateOfCharge < chargeTarget ? configuration.maxChargeWatts : 0 }

    private var chargeTarget: Double { cheapHour ? 1 : configuration.chargeOutsideCheapHoursToFraction }

    /// Applies the flow in force since the last call up to `now`, then the reserve and charging rules.
    public mutating func advance(to now: Double) {
        defer { lastAt = max(lastAt ?? now, now) }
        guard let last = lastAt, now > last else { return }
        let hours = (now - last) / 3600
        let legEfficiency = configuration.roundTripEfficiency.squareRoot()
        if flowWatts > 0 {
            // The reserve is a floor for the cells: the flow stops there (at most one event's interval late).
            let above = max(0, storedWattHours - configuration.reserveFraction * configuration.capacityWattHours)
            let fromCells = min(above, flowWatts * hours / legEfficiency)
            storedWattHours -= fromCells
            dischargedWattHours += fromCells * legEfficiency
        } else if flowWatts < 0 {
            // The target is a ceiling for the cells, as the reserve is a floor.
            let room = max(0, chargeTarget * configuration.capacityWattHours - storedWattHours)
            let intoCells = min(room, -flowWatts * hours * legEfficiency)
            storedWattHours += intoCells
            chargedWattHours += intoCells / legEfficiency
        }
        updateRules()
    }

    /// Sets the flow from now on, clamped to what the battery may give or take: positive gives, negative charges.
    public mutating func setFlow(_ watts: Double) {
        guard watts.isFinite else {
            flowWatts = 0
            return
        }
        flowWatts = watts > 0 ? min(watts, availableDischargeWatts) : -min(-watts, acceptableChargeWatts)
    }

    private mutating func updateRules() {
        let soc = stateOfCharge
        let c = configuration
        if soc <= c.reserveFraction + 1e-9 {
            mayDischarge = false
        } else if soc >= c.reserveFraction + c.reserveHysteresisFraction {
            mayDischarge = true
        }
        if soc >= chargeTarget - 1e-9 {
            charging = false
        } else if soc <= chargeTarget - c.rechargeHysteresisFraction {
            charging = true
        }
        if !mayDischarge, flowWatts > 0 { flowWatts = 0 }
        if !charging || soc >= chargeTarget, flowWatts < 0 { flowWatts = 0 }
    }

    /// Marks the hour cheap or not; a cheap hour lifts the charging target to full at once.
    public mutating func setCheapHour(_ cheap: Bool) {
        cheapHour = cheap
        if stateOfCharge <= chargeTarget - configuration.rechargeHysteresisFraction { charging = true }
        if cheap, stateOfCharge < 1 { charging = true }
    }

    /// Full cycles so far: energy given at the terminals over the capacity.
    public var cycles: Double {
        configuration.capacityWattHours > 0 ? dischargedWattHours / configuration.capacityWattHours : 0
    }
}
