public import HearthCore

/// A home's electrical panel, as the node agent sees it: the latest figures, read at least once a second.
///
/// Narrow on purpose: a SPAN panel's local v2 interface (``SpanPanel``, MQTT), a simulated panel
/// (``SimulatedPanel``) and, for a fleet deployment, the panel maker's commercial fleet interface all fit.
public protocol HomePanel: Sendable {
    /// The panel's latest figures. Throws only when the panel cannot be read at all; a snapshot with
    /// missing or implausible figures is returned as it is, and the governor treats it as no headroom.
    func snapshot() async throws -> PanelSnapshot

    /// A count that moves whenever new figures may have arrived (nil: a panel that can only be polled). The node's
    /// power loop reacts to each move instead of waiting for its next poll.
    var changeGeneration: UInt64? { get }

    /// Returns once ``changeGeneration`` has moved past `seen`, or when the task is cancelled.
    func waitForChange(after seen: UInt64) async
}

extension HomePanel {
    public var changeGeneration: UInt64? { nil }

    /// A polled panel never announces a change: this waits for cancellation.
    public func waitForChange(after seen: UInt64) async {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3_600)) }
    }
}

/// The panel's own figures in its own sign convention (SPAN: power *into* the panel is positive, so the
/// upstream lugs read positive while the home imports and each circuit's load reads negative), with SI units
/// (watts, amps, volts, percent for battery state of charge, watt-hours for state of energy).
/// Any figure may be nil: the panel has not published it yet, or published something unusable.
public struct PanelSnapshot: Sendable, Hashable {
    public struct Circuit: Sendable, Hashable {
        public var id: String
        public var name: String?
        /// The circuit's `active-power`, watts (negative while it feeds a load).
        public var activePowerWatts: Double?
        /// The circuit's `shed-priority` as published (e.g. `NEVER`, `SOC_THRESHOLD`, `OFF_GRID`).
        public var shedPriority: String?

        public init(id: String, name: String? = nil, activePowerWatts: Double? = nil, shedPriority: String? = nil) {
            self.id = id
            self.name = name
            self.activePowerWatts = activePowerWatts
            self.shedPriority = shedPriority
        }
    }

    /// Upstream lugs `active-power`, watts (positive while importing from the grid).
    public var mainsActivePowerWatts: Double?
    /// Upstream lugs `l1-current` / `l2-current`, amps.
    public var l1CurrentAmps: Double?
    public var l2CurrentAmps: Double?
    /// `core` `breaker-rating`, amps.
    public var breakerRatingAmps: Double?
    /// `core` `l1-voltage`, volts (leg to neutral: 120 V in a North American split-phase service).
    public var l1Voltage: Double?
    /// `core` `door`: whether the panel door is open (nil when unknown).
    public var doorOpen: Bool?
    public var circuits: [Circuit]
    /// Battery `soc` (percent) and `soe` (watt-hours), when the home has a battery.
    public var batteryStateOfChargePercent: Double?
    public var batteryStateOfEnergyWattHours: Double?
    /// Power-control `requested-import-limit`, watts (nil when none is requested).
    public var requestedImportLimitWatts: Double?
    /// Seconds since the mains figures last changed hands (monotonic; nil before the first one).
    public var ageSeconds: Double?
    /// Why the figures the governor needs (mains power, breaker rating) are missing, in words for the node's log
    /// (nil when they are there): a node that stays drained says why.
    public var unavailableBecause: String?

    public init(
        mainsActivePowerWatts: Double? = nil, l1CurrentAmps: Double? = nil, l2CurrentAmps: Double? = nil,
        breakerRatingAmps: Double? = nil, l1Voltage: Double? = nil, doorOpen: Bool? = nil, circuits: [Circuit] = [],
        batteryStateOfChargePercent: Double? = nil, batteryStateOfEnergyWattHours: Double? = nil,
        requestedImportLimitWatts: Double? = nil, ageSeconds: Double? = nil
    ) {
        self.mainsActivePowerWatts = mainsActivePowerWatts
        self.l1CurrentAmps = l1CurrentAmps
        self.l2CurrentAmps = l2CurrentAmps
        self.breakerRatingAmps = breakerRatingAmps
        self.l1Voltage = l1Voltage
        self.doorOpen = doorOpen
        self.circuits = circuits
        self.batteryStateOfChargePercent = batteryStateOfChargePercent
        self.batteryStateOfEnergyWattHours = batteryStateOfEnergyWattHours
        self.requestedImportLimitWatts = requestedImportLimitWatts
        self.ageSeconds = ageSeconds
    }

    /// The governor's reading: the home's load excluding the node's own draw, in Hearth's
    /// consumption-positive convention. A snapshot missing the mains power or breaker rating gives a reading
    /// the governor treats as unknown (no headroom). Split-phase leg-to-leg voltage is twice `l1-voltage`.
    public func reading(nodeDrawWatts: Double, at now: Double) -> PanelReading {
        let voltage = l1Voltage.map { $0 * 2 } ?? 240
        let at = now - (ageSeconds ?? .infinity)
        guard let mains = mainsActivePowerWatts, let rating = breakerRatingAmps, at.isFinite else {
            return PanelReading(homeLoadWatts: nil, breakerRatingAmps: breakerRatingAmps ?? 0, voltage: voltage, at: now)
        }
        return PanelReading.fromPanel(
            mainsActivePowerWatts: mains, l1CurrentAmps: l1CurrentAmps, l2CurrentAmps: l2CurrentAmps, voltage: voltage,
            breakerRatingAmps: rating, nodeDrawWatts: nodeDrawWatts, at: at)
    }
}
