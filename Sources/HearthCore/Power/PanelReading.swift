/// One reading of the home's panel, in the units and sign convention Hearth uses internally.
///
/// Build it from the panel's own figures with ``PanelReading/fromPanel(mainsActivePowerWatts:l1CurrentAmps:l2CurrentAmps:voltage:breakerRatingAmps:nodeDrawWatts:at:)``,
/// which converts the SPAN sign convention (power *into* the panel through the upstream lugs is
/// positive; circuit loads read negative) into Hearth's (home consumption positive).
///
/// The node is assumed to be fed from the same panel, so the panel's mains figures include the node's own
/// draw; the home's live load is the mains import less what the node draws (measured by the node itself,
/// e.g. NVML board power plus host). Negative home load (solar or battery export) is counted as zero:
/// the budget never relies on generation that a cloud can take away within a second.
public struct PanelReading: Sendable, Hashable, Codable {
    /// The home's own load excluding the node, watts, ≥ 0 (nil when unknown).
    public var homeLoadWatts: Double?
    /// The most loaded leg's current excluding the node, amps (nil when the panel gives no leg currents).
    public var homeLegCurrentAmps: Double?
    /// Service (main breaker) rating, amps.
    public var breakerRatingAmps: Double
    /// Service voltage leg to leg (240 V split-phase in North America).
    public var voltage: Double
    /// What the node itself drew at the time, watts.
    public var nodeDrawWatts: Double
    /// When the reading was true, in the governor's seconds.
    public var at: Double

    public init(
        homeLoadWatts: Double?, homeLegCurrentAmps: Double? = nil, breakerRatingAmps: Double, voltage: Double = 240,
        nodeDrawWatts: Double = 0, at: Double
    ) {
        self.homeLoadWatts = homeLoadWatts
        self.homeLegCurrentAmps = homeLegCurrentAmps
        self.breakerRatingAmps = breakerRatingAmps
        self.voltage = voltage
        self.nodeDrawWatts = nodeDrawWatts
        self.at = at
    }

    /// Converts the panel's figures (SPAN convention) into a reading.
    ///
    /// - Parameters:
    ///   - mainsActivePowerWatts: upstream lugs `active-power`: positive while the home imports from the grid.
    ///   - l1CurrentAmps, l2CurrentAmps: upstream lugs leg currents (magnitudes), if the panel gives them.
    ///   - voltage: `core/l1-voltage` × 2 for split phase, or the leg-to-leg voltage.
    ///   - breakerRatingAmps: `core/breaker-rating`.
    ///   - nodeDrawWatts: what the node measured itself drawing (≥ 0).
    public static func fromPanel(
        mainsActivePowerWatts: Double, l1CurrentAmps: Double? = nil, l2CurrentAmps: Double? = nil, voltage: Double,
        breakerRatingAmps: Double, nodeDrawWatts: Double, at: Double
    ) -> PanelReading {
        let node = nodeDrawWatts.isFinite ? max(0, nodeDrawWatts) : 0
        let home = PanelSign.importWatts(fromPanelActivePower: mainsActivePowerWatts).map { max(0, $0 - node) }
        var legAmps: Double?
        if let l1 = l1CurrentAmps, let l2 = l2CurrentAmps, l1.isFinite, l2.isFinite, voltage > 0 {
            // The node is a balanced 240 V load: it carries node / V amps on each leg.
            legAmps = max(0, max(abs(l1), abs(l2)) - node / voltage)
        }
        return PanelReading(
            homeLoadWatts: home, homeLegCurrentAmps: legAmps, breakerRatingAmps: breakerRatingAmps, voltage: voltage,
            nodeDrawWatts: node, at: at)
    }

    /// Whether every figure is physically plausible (finite, non-negative, a real service). Anything else is
    /// "unknown", which the governor treats as no headroom.
    public var isPlausible: Bool {
        guard let home = homeLoadWatts, home.isFinite, home >= 0, home < 1_000_000 else { return false }
        if let legs = homeLegCurrentAmps, !(legs.isFinite && legs >= 0 && legs < 2_000) { return false }
        guard breakerRatingAmps.isFinite, breakerRatingAmps >= 30, breakerRatingAmps <= 1_200 else { return false }
        guard voltage.isFinite, voltage >= 100, voltage <= 480 else { return false }
        return nodeDrawWatts.isFinite && nodeDrawWatts >= 0 && at.isFinite
    }
}

/// The SPAN panel's sign convention, in one place.
///
/// SPAN reports power *into* the panel as positive: the upstream lugs read positive while the home imports
/// from the grid (negative while solar or a battery exports), and each branch circuit's `active-power`
/// reads negative while it feeds a load. Hearth works in consumption-positive watts.
public enum PanelSign {
    /// Grid import in watts (consumption positive) from the upstream lugs' `active-power`; nil when not finite.
    public static func importWatts(fromPanelActivePower value: Double) -> Double? {
        value.isFinite ? value : nil
    }

    /// A circuit's load in watts (consumption positive) from its `active-power` (negative for loads).
    public static func circuitLoadWatts(fromPanelActivePower value: Double) -> Double? {
        value.isFinite ? -value : nil
    }

    /// The panel's `active-power` for a consumption-positive load (for simulated panels publishing SPAN-shaped data).
    public static func panelActivePower(forCircuitLoadWatts watts: Double) -> Double { -watts }
}
