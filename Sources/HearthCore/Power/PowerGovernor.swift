/// Turns the node's power budget into actions: a value-type state machine, no I/O and no clock.
///
/// The node agent feeds it ``Event``s (a panel reading at least once a second, the gateway's transformer
/// budget, the grid's demand-response cap, and a ``Event/tick`` at least once a second) with `now` in its
/// own monotonic seconds, and performs the returned ``Action``s in order (NVML / `nvidia-smi -pl`, the
/// engine's admission gate, hand-back of in-flight streams to the gateway).
///
/// Rules:
/// - **Effective budget** = min(home budget from the last plausible panel reading, transformer budget, grid
///   cap). A reading that is implausible, or older than ``Configuration/staleAfterSeconds``, makes the home
///   budget *unknown*, which counts as no headroom (fail safe): the node drains.
/// - **Modes** from the effective budget `b`: `normal` when `b ≥ host + GPU max`; `capped` (GPU limit
///   `b − host`) down to `host + GPU min`; `draining` below that (GPUs at their minimum limit, admissions
///   paused, in-flight requests handed back to the gateway); `off` below the node's idle draw (the agent
///   powers the GPUs down).
/// - **Down at once**: any event that lowers what the node may draw yields its actions in the same call, so
///   the node reacts within one panel-reading period (≤ 1 s).
/// - **Up with hysteresis**: capacity returns only when the budget, less ``Configuration/hysteresisWatts``,
///   allows more than now *and has done so continuously* for ``Configuration/holdSeconds``; it then rises to
///   the least level seen over that hold. A budget that wobbles around a threshold therefore never flaps:
///   any dip restarts the hold, so there is at most one raise per hold period. (Returning to full power
///   needs no band, because budgets are clamped at the node cap, which is often exactly the full draw.)
public struct PowerGovernor: Sendable {
    /// What the node is doing about power (reported in telemetry; the scheduler filters on it).
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
        case off, draining, capped, normal

        var rank: Int {
            switch self {
            case .off: 0
            case .draining: 1
            case .capped: 2
            case .normal: 3
            }
        }

        public static func < (a: Mode, b: Mode) -> Bool { a.rank < b.rank }

        /// Whether the node takes new work in this mode.
        public var isAdmitting: Bool { self == .normal || self == .capped }
    }

    public enum Event: Sendable, Hashable {
        /// The panel's latest reading (at least once a second).
        case panelReading(PanelReading)
        /// The gateway's budget for this node from its transformer allocation, watts; nil lifts it.
        case budgetChange(watts: Double?)
        /// A grid demand-response cap, watts (0 sheds the node); nil when no event is active.
        case gridCap(watts: Double?)
        /// Time passes (at least once a second): detects stale readings and ends hold periods.
        case tick
        /// Whether this hour is marked cheap (a tariff, or the operator's hours): the battery charges to full in it.
        case cheapHour(Bool)
        /// The host's own limit on the node's whole draw, watts (0: the host paused it); nil lifts it. The home's
        /// controls (Home Assistant) set it: it caps what the node draws from grid and battery together.
        case hostLimit(watts: Double?)
    }

    public enum Action: Sendable, Hashable {
        /// Set the sum of the node's GPU power limits to this many watts (the agent splits it per GPU).
        case setGPUPowerLimit(watts: Double)
        /// Stop admitting new requests (report `isAdmitting = false`).
        case pauseAdmissions
        /// Admit new requests again.
        case resumeAdmissions
        /// Stop work; with `handBackInFlight` return in-flight streams to the gateway for placement elsewhere.
        case drain(handBackInFlight: Bool)
        /// Power the GPUs / engine down to standby: the budget is below even the node's idle draw.
        case powerDown
        /// Leave `off`: power the GPUs / engine back up (admissions resume separately).
        case restore
    }

    public struct Configuration: Sendable, Hashable, Codable {
        /// Host draw at load (CPU, memory, fans, PSU losses), watts.
        public var hostWatts: Double
        /// Sum of the GPUs' maximum (default) power limits, watts.
        public var gpuMaxWatts: Double
        /// Sum of the GPUs' minimum settable power limits (NVML `powerManagementLimitConstraints.min`), watts.
        public var gpuMinWatts: Double
        /// The whole node's draw when idle with GPUs powered, watts (the idle floor).
        public var idleWatts: Double
        /// Band above a threshold that the budget must clear before capacity returns, watts.
        public var hysteresisWatts: Double
        /// How long the budget must stay above the raised level before it is applied, seconds.
        public var holdSeconds: Double
        /// A panel reading older than this is unknown (no headroom), seconds.
        public var staleAfterSeconds: Double
        /// How the home budget is computed from a reading.
        public var budget: PowerBudget.Configuration
        /// The node's battery, if it has one: the grid budget is then what the node imports, and the battery makes up
        /// the rest of its draw until its reserve (``NodeBattery``).
        public var battery: NodeBattery.Configuration?

        public init(
            hostWatts: Double = 1_200, gpuMaxWatts: Double = 18_000, gpuMinWatts: Double = 5_400, idleWatts: Double = 2_200,
            hysteresisWatts: Double = 480, holdSeconds: Double = 30, staleAfterSeconds: Double = 2.5,
            budget: PowerBudget.Configuration = PowerBudget.Configuration(), battery: NodeBattery.Configuration? = nil
        ) {
            self.battery = battery
            self.hostWatts = hostWatts
            self.gpuMaxWatts = gpuMaxWatts
            self.gpuMinWatts = min(gpuMinWatts, gpuMaxWatts)
            self.idleWatts = idleWatts
            self.hysteresisWatts = hysteresisWatts
            self.holdSeconds = holdSeconds
            self.staleAfterSeconds = staleAfterSeconds
            self.budget = budget
        }

        /// Full draw: host plus every GPU at its maximum limit.
        public var fullWatts: Double { hostWatts + gpuMaxWatts }
        /// Least draw while running work: host plus GPUs at their minimum limit.
        public var floorWatts: Double { hostWatts + gpuMinWatts }
    }

    public let configuration: Configuration
    /// Current mode.
    public private(set) var mode: Mode
    /// The GPU power limit last set (sum over GPUs), watts.
    public private(set) var gpuLimitWatts: Double
    /// The home budget from the last plausible reading (nil: none yet, or implausible).
    public private(set) var homeBudgetWatts: Double?
    /// When that reading was true.
    public private(set) var lastReadingAt: Double?
    /// The gateway's transformer budget, if any.
    public private(set) var transformerBudgetWatts: Double?
    /// The grid's demand-response cap, if any.
    public private(set) var gridCapWatts: Double?
    /// The host's limit on the node's whole draw, if any (0: paused).
    public private(set) var hostLimitWatts: Double?
    /// The battery, when the node has one.
    public private(set) var battery: NodeBattery?
    private var raiseSince: Double?
    private var raiseTarget: (mode: Mode, limit: Double)?

    /// Starts `draining` with GPUs at their minimum: nothing is admitted until a plausible reading has shown
    /// headroom for ``Configuration/holdSeconds``. A battery starts at `batteryStateOfCharge` (0–1).
    public init(configuration: Configuration = Configuration(), batteryStateOfCharge: Double = 1) {
        self.configuration = configuration
        self.mode = .draining
        self.gpuLimitWatts = configuration.gpuMinWatts
        self.battery = configuration.battery.map { NodeBattery(configuration: $0, stateOfCharge: batteryStateOfCharge) }
    }

    /// The budget in force at `now`: min of home, transformer and grid; nil when the home budget is unknown or stale.
    /// With a battery, this is what the node may import from the grid.
    public func effectiveBudgetWatts(now: Double) -> Double? {
        guard let home = homeBudgetWatts, let at = lastReadingAt, now - at <= configuration.staleAfterSeconds else { return nil }
        return min(home, transformerBudgetWatts ?? .infinity, gridCapWatts ?? .infinity)
    }

    /// What the node may draw at `now`: the grid budget plus what the battery may give. Nil when the grid budget is
    /// unknown: a node that cannot see its home drains even with a charged battery (fail safe, as without one).
    public func supplyWatts(now: Double) -> Double? {
        effectiveBudgetWatts(now: now).map { min($0 + (battery?.availableDischargeWatts ?? 0), hostLimitWatts ?? .infinity) }
    }

    /// The least grid power the node can run at: its floor, less what its battery can give now. What it reports as
    /// its floor, and what a transformer's allocation (``GridAllocation``) keeps for it.
    public var gridFloorWatts: Double { max(0, configuration.floorWatts - (battery?.availableDischargeWatts ?? 0)) }

    /// What the node imports from the grid now (its allowed draw, less what the battery gives, plus what it charges).
    public var gridImportWatts: Double { gridImport(forDraw: allowedDrawWatts) }

    /// What the node imports from the grid while it draws `draw` watts: the draw less what the battery gives, plus what
    /// it takes to charge.
    public func gridImport(forDraw draw: Double) -> Double { max(0, draw - (battery?.flowWatts ?? 0)) }

    /// The most the node can draw in its current mode and limit, watts.
    public var allowedDrawWatts: Double {
        switch mode {
        case .normal, .capped: configuration.hostWatts + gpuLimitWatts
        case .draining: configuration.idleWatts
        case .off: 0
        }
    }

    /// GPU limit as a share of the maximum (1 uncapped), for ``GPUPowerCurve`` and the scheduler.
    public var capFraction: Double { configuration.gpuMaxWatts > 0 ? gpuLimitWatts / configuration.gpuMaxWatts : 1 }

    /// Feeds one event; returns the actions to perform, in order.
    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        // The battery's flow since the last event, before anything changes it.
        battery?.advance(to: now)
        switch event {
        case .panelReading(let reading):
            let budget = PowerBudget.compute(reading, configuration: configuration.budget)
            if budget.isKnown, reading.at <= now + 1 {
                homeBudgetWatts = budget.watts
                lastReadingAt = min(reading.at, now)
            } else {
                homeBudgetWatts = nil  // unknown: no headroom
            }
        case .budgetChange(let watts):
            transformerBudgetWatts = watts.map { $0.isFinite ? max(0, $0) : 0 }
        case .gridCap(let watts):
            gridCapWatts = watts.map { $0.isFinite ? max(0, $0) : 0 }
        case .tick:
            break
        case .cheapHour(let cheap):
            battery?.setCheapHour(cheap)
        case .hostLimit(let watts):
            hostLimitWatts = watts.map { $0.isFinite ? max(0, $0) : 0 }
        }
        let actions = evaluate(now: now)
        planBatteryFlow(now: now)
        return actions
    }

    /// Sets the battery's flow until the next event: it gives what the node's allowed draw exceeds the grid budget
    /// by, or takes what the node leaves of it.
    private mutating func planBatteryFlow(now: Double) {
        guard battery != nil else { return }
        guard let grid = effectiveBudgetWatts(now: now) else {
            battery?.setFlow(0)
            return
        }
        // The host's limit bounds what the node takes from the home in all, charging included.
        let gap = allowedDrawWatts - min(grid, hostLimitWatts ?? .infinity)
        battery?.setFlow(gap)
    }

    /// What the budget allows: (mode, GPU limit). Nil budget is unknown → draining.
    func target(budget: Double?) -> (mode: Mode, limit: Double) {
        let c = configuration
        guard let b = budget else { return (.draining, c.gpuMinWatts) }
        if b < c.idleWatts { return (.off, c.gpuMinWatts) }
        if b < c.floorWatts { return (.draining, c.gpuMinWatts) }
        if b < c.fullWatts { return (.capped, b - c.hostWatts) }
        return (.normal, c.gpuMaxWatts)
    }

    private static func isLower(_ a: (mode: Mode, limit: Double), than b: (mode: Mode, limit: Double)) -> Bool {
        a.mode < b.mode || (a.mode == b.mode && a.mode.isAdmitting && a.limit < b.limit)
    }

    private mutating func evaluate(now: Double) -> [Action] {
        let current = (mode: mode, limit: gpuLimitWatts)
        let budget = supplyWatts(now: now)
        let wanted = target(budget: budget)
        if Self.isLower(wanted, than: current) {
            raiseSince = nil
            raiseTarget = nil
            return transition(to: wanted)
        }
        // Raising: only past the band, and only after the hold. Full power needs no band (the budget is
        // clamped at the node cap, which often equals full draw); the hold alone rate-limits it.
        let up = wanted.mode == .normal ? wanted : target(budget: budget.map { $0 - configuration.hysteresisWatts })
        guard Self.isLower(current, than: up) else {
            raiseSince = nil
            raiseTarget = nil
            return []
        }
        if let since = raiseSince, let held = raiseTarget {
            let least = Self.isLower(up, than: held) ? up : held
            if now - since >= configuration.holdSeconds {
                raiseSince = nil
                raiseTarget = nil
                return transition(to: least)
            }
            raiseTarget = least
        } else {
            raiseSince = now
            raiseTarget = up
            if configuration.holdSeconds <= 0 {
                raiseSince = nil
                raiseTarget = nil
                return transition(to: up)
            }
        }
        return []
    }

    private mutating func transition(to next: (mode: Mode, limit: Double)) -> [Action] {
        var actions: [Action] = []
        let old = mode
        if old == .off, next.mode != .off { actions.append(.restore) }
        let limit = next.mode.isAdmitting ? next.limit : configuration.gpuMinWatts
        if limit != gpuLimitWatts {
            actions.append(.setGPUPowerLimit(watts: limit))
            gpuLimitWatts = limit
        }
        if old.isAdmitting, !next.mode.isAdmitting {
            actions.append(.pauseAdmissions)
            actions.append(.drain(handBackInFlight: true))
        }
        if next.mode == .off, old != .off { actions.append(.powerDown) }
        if !old.isAdmitting, next.mode.isAdmitting { actions.append(.resumeAdmissions) }
        mode = next.mode
        return actions
    }
}

extension PowerGovernor {
    /// What the node reports in telemetry.
    public struct Status: Sendable, Hashable, Codable {
        public var mode: Mode
        /// Effective budget, watts (nil: unknown).
        public var budgetWatts: Double?
        /// GPU power limit in force, watts.
        public var capWatts: Double
        /// Share of full GPU power allowed (for ``FleetState/setPowerCapFactor(_:at:)`` via ``GPUPowerCurve``).
        public var capFraction: Double
        /// The battery's state of charge, 0–1 (nil without one).
        public var batteryStateOfCharge: Double?
        /// What the battery gives the node (positive) or takes to charge (negative), watts (nil without one).
        public var batteryWatts: Double?
        /// What the node imports from the grid, watts.
        public var gridImportWatts: Double?

        public init(
            mode: Mode, budgetWatts: Double?, capWatts: Double, capFraction: Double, batteryStateOfCharge: Double? = nil,
            batteryWatts: Double? = nil, gridImportWatts: Double? = nil
        ) {
            self.mode = mode
            self.budgetWatts = budgetWatts
            self.capWatts = capWatts
            self.capFraction = capFraction
            self.batteryStateOfCharge = batteryStateOfCharge
            self.batteryWatts = batteryWatts
            self.gridImportWatts = gridImportWatts
        }
    }

    /// The node's power status at `now`.
    public func status(now: Double) -> Status {
        Status(
            mode: mode, budgetWatts: effectiveBudgetWatts(now: now), capWatts: gpuLimitWatts, capFraction: capFraction,
            batteryStateOfCharge: battery?.stateOfCharge, batteryWatts: battery?.flowWatts,
            gridImportWatts: battery == nil ? nil : gridImportWatts)
    }
}
