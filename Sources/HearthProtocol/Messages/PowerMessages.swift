/// What a node reports about power in each heartbeat (the node's `PowerGovernor` status plus measurements).
///
/// `mode` is a string on the wire so that a newer or hostile node's unknown value does not break the
/// heartbeat: the gateway treats anything but `normal` or `capped` as not admitting.
public struct NodePowerReport: Codable, Sendable, Equatable {
    /// `normal`, `capped`, `draining` or `off`.
    public var mode: String
    /// The effective budget, watts (nil: unknown, which the node treats as no headroom).
    public var budgetWatts: Double?
    /// What the node draws now (host + GPUs), watts.
    public var drawWatts: Double
    /// The GPU power limit in force (sum over GPUs), watts.
    public var capWatts: Double
    /// The GPU limit as a share of the GPUs' maximum (1: uncapped).
    public var capFraction: Double
    /// The home's own live load excluding the node, watts (nil: unknown).
    public var homeLoadWatts: Double?
    /// What the home alone allows the node (before the gateway's limits), watts (nil: unknown). The gateway
    /// shares transformers out by this, not by the effective budget its own limits already lowered.
    public var homeBudgetWatts: Double?
    /// The node's full draw (host + GPUs at maximum) and its running floor from the grid (host + GPUs at minimum, less
    /// what its battery can give now), watts.
    public var fullWatts: Double
    public var floorWatts: Double
    /// The node's battery, when it has one: state of charge 0–1, and what it gives the node (positive) or takes to
    /// charge (negative), watts.
    public var batteryStateOfCharge: Double?
    public var batteryWatts: Double?
    /// What the node imports from the grid (with a battery, its draw less what the battery gives), watts.
    public var gridImportWatts: Double?

    public init(
        mode: String, budgetWatts: Double?, drawWatts: Double, capWatts: Double, capFraction: Double, homeLoadWatts: Double?,
        homeBudgetWatts: Double?, fullWatts: Double, floorWatts: Double, batteryStateOfCharge: Double? = nil,
        batteryWatts: Double? = nil, gridImportWatts: Double? = nil
    ) {
        self.batteryStateOfCharge = batteryStateOfCharge
        self.batteryWatts = batteryWatts
        self.gridImportWatts = gridImportWatts
        self.homeBudgetWatts = homeBudgetWatts
        self.mode = mode
        self.budgetWatts = budgetWatts
        self.drawWatts = drawWatts
        self.capWatts = capWatts
        self.capFraction = capFraction
        self.homeLoadWatts = homeLoadWatts
        self.fullWatts = fullWatts
        self.floorWatts = floorWatts
    }

    private enum CodingKeys: String, CodingKey {
        case mode
        case budgetWatts = "budget_watts"
        case drawWatts = "draw_watts"
        case capWatts = "cap_watts"
        case capFraction = "cap_fraction"
        case homeLoadWatts = "home_load_watts"
        case homeBudgetWatts = "home_budget_watts"
        case fullWatts = "full_watts"
        case floorWatts = "floor_watts"
        case batteryStateOfCharge = "battery_state_of_charge"
        case batteryWatts = "battery_watts"
        case gridImportWatts = "grid_import_watts"
    }
}

/// Energy the node drew over one closed interval, for the host's credit. Intervals are identified by their
/// start: the node resends recent ones after a reconnect and the gateway stores each once.
public struct EnergyInterval: Codable, Sendable, Equatable, Hashable {
    /// Unix seconds.
    public var start: Int64
    public var end: Int64
    public var wattHours: Double
    /// Of ``wattHours``, what the node drew from its battery (nil: a node without one).
    public var batteryWattHours: Double?

    public init(start: Int64, end: Int64, wattHours: Double, batteryWattHours: Double? = nil) {
        self.start = start
        self.end = end
        self.wattHours = wattHours
        self.batteryWattHours = batteryWattHours
    }

    private enum CodingKeys: String, CodingKey {
        case start
        case end
        case wattHours = "watt_hours"
        case batteryWattHours = "battery_watt_hours"
    }
}

/// gateway → node: the limits the gateway imposes on top of the home's own budget. Each message carries every
/// limit in force (nil: none), so a lost or reordered message is corrected by the next.
public struct PowerLimit: Codable, Sendable, Equatable {
    /// The node's share of its distribution transformer, watts.
    public var transformerBudgetWatts: Double?
    /// A grid demand-response cap, watts (0 sheds the node).
    public var gridCapWatts: Double?
    /// Why, for the node's log (e.g. the OpenADR event id).
    public var reason: String?

    public init(transformerBudgetWatts: Double?, gridCapWatts: Double?, reason: String? = nil) {
        self.transformerBudgetWatts = transformerBudgetWatts
        self.gridCapWatts = gridCapWatts
        self.reason = reason
    }

    private enum CodingKeys: String, CodingKey {
        case transformerBudgetWatts = "transformer_budget_watts"
        case gridCapWatts = "grid_cap_watts"
        case reason
    }

    // Explicit nulls: "no limit" must travel, not be confused with an older gateway that never sent the field.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(transformerBudgetWatts, forKey: .transformerBudgetWatts)
        try container.encode(gridCapWatts, forKey: .gridCapWatts)
        try container.encodeIfPresent(reason, forKey: .reason)
    }
}
