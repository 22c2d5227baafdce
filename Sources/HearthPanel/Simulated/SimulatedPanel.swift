public import HearthCore
import Synchronization

/// An in-process panel: a home's simulated day (``HearthCore/HomeLoadProfile/day(_:seed:)``, 1 s resolution)
/// plus loads a test or developer switches on, plus the node's own draw, reported in SPAN's sign convention.
///
/// The node sits on the panel, so mains = home + extra loads + node draw. Leg currents assume every load is a
/// balanced 240 V load (each leg carries mains ÷ 240 V), which is exact for the node, an EV charger or a dryer and
/// a simplification for 120 V loads. Figures are always fresh (`ageSeconds` 0).
public final class SimulatedPanel: HomePanel {
    public struct Configuration: Sendable {
        public var homeType: HomeType
        public var seed: UInt64
        /// Leg-to-neutral voltage (120 V in North America; leg to leg is twice this).
        public var l1Voltage: Double
        /// Main breaker rating, amps (default: the home type's service).
        public var breakerRatingAmps: Double
        /// Battery state of charge, percent, and capacity, watt-hours (nil: no battery).
        public var battery: (stateOfChargePercent: Double, capacityWattHours: Double)?

        public init(
            homeType: HomeType = .gasSuburban, seed: UInt64 = 1, l1Voltage: Double = 120, breakerRatingAmps: Double? = nil,
            battery: (stateOfChargePercent: Double, capacityWattHours: Double)? = nil
        ) {
            self.homeType = homeType
            self.seed = seed
            self.l1Voltage = l1Voltage
            self.breakerRatingAmps = breakerRatingAmps ?? homeType.serviceAmps
            self.battery = battery
        }
    }

    /// Identifies a load added with ``addLoad(name:watts:forSeconds:)``.
    public struct LoadID: Sendable, Hashable {
        fileprivate let raw: Int
    }

    private struct Load {
        var name: String
        var watts: Double
        /// The load ends at this second of simulated time (nil: until removed).
        var until: Double?
    }

    private struct State {
        var nodeDrawWatts = 0.0
        var loads: [Int: Load] = [:]
        var nextID = 0
        var requestedImportLimitWatts: Double?
        var doorOpen = false
    }

    public let configuration: Configuration
    private let profile: [Float]
    private let secondsIntoDay: @Sendable () -> Double
    private let state = Mutex(State())

    /// A panel whose time (seconds into the simulated day; wraps at midnight) comes from `secondsIntoDay`.
    public init(configuration: Configuration, secondsIntoDay: @escaping @Sendable () -> Double) {
        self.configuration = configuration
        self.profile = HomeLoadProfile.day(configuration.homeType, seed: configuration.seed)
        self.secondsIntoDay = secondsIntoDay
    }

    /// A panel that starts at `startSecond` of the day and advances in real time.
    public convenience init(configuration: Configuration, startSecond: Double = 0) {
        let clock = ContinuousClock()
        let start = clock.now
        self.init(configuration: configuration) {
            let elapsed = start.duration(to: clock.now)
            return startSecond + Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        }
    }

    // MARK: Overrides

    /// What the node itself draws now, watts (it is on this panel, so it shows in mains).
    public func setNodeDraw(watts: Double) {
        state.withLock { $0.nodeDrawWatts = max(0, watts.isFinite ? watts : 0) }
    }

    /// Switches on a load, e.g. an EV charger: `addLoad(name: "EV charger", watts: 48 * 240)`. With `forSeconds` it
    /// ends by itself after that much simulated time (a spike).
    @discardableResult
    public func addLoad(name: String, watts: Double, forSeconds: Double? = nil) -> LoadID {
        let now = secondsIntoDay()
        return state.withLock { s in
            s.nextID += 1
            s.loads[s.nextID] = Load(name: name, watts: watts.isFinite ? watts : 0, until: forSeconds.map { now + $0 })
            return LoadID(raw: s.nextID)
        }
    }

    public func removeLoad(_ id: LoadID) {
        _ = state.withLock { $0.loads.removeValue(forKey: id.raw) }
    }

    /// Replaces all added loads with one "Extra load" of `watts` (0 removes them).
    public func setExtraLoad(watts: Double) {
        state.withLock { s in
            s.loads = [:]
            guard watts != 0 else { return }
            s.nextID += 1
            s.loads[s.nextID] = Load(name: "Extra load", watts: watts.isFinite ? watts : 0, until: nil)
        }
    }

    /// A requested import limit the panel's power-control node reports, watts (nil: none).
    public func setRequestedImportLimit(watts: Double?) {
        state.withLock { $0.requestedImportLimitWatts = watts }
    }

    public func setDoorOpen(_ open: Bool) {
        state.withLock { $0.doorOpen = open }
    }

    /// The simulated home's own load at second `t` of the day, watts.
    public func homeLoadWatts(atSecond t: Double) -> Double {
        guard t.isFinite else { return 0 }
        let day = Double(HomeLoadProfile.secondsPerDay)
        let index = Int((t.truncatingRemainder(dividingBy: day) + day).truncatingRemainder(dividingBy: day))
        return Double(profile[min(max(0, index), profile.count - 1)])
    }

    // MARK: HomePanel

    public func snapshot() -> PanelSnapshot {
        let now = secondsIntoDay()
        let home = homeLoadWatts(atSecond: now)
        let s = state.withLock { $0 }
        let loads = s.loads.sorted { $0.key < $1.key }.filter { $0.value.until.map { now < $0 } ?? true }
        let mains = home + loads.reduce(0) { $0 + $1.value.watts } + s.nodeDrawWatts
        let legAmps = mains / (2 * configuration.l1Voltage)
        var circuits = [PanelSnapshot.Circuit(id: "home", name: "Home", activePowerWatts: circuitPower(home), shedPriority: "NEVER")]
        for (id, load) in loads {
            circuits.append(
                PanelSnapshot.Circuit(
                    id: "load-\(id)", name: load.name, activePowerWatts: circuitPower(load.watts), shedPriority: "SOC_THRESHOLD"))
        }
        circuits.append(
            PanelSnapshot.Circuit(
                id: "hearth-node", name: "Hearth node", activePowerWatts: circuitPower(s.nodeDrawWatts), shedPriority: "OFF_GRID"))
        return PanelSnapshot(
            mainsActivePowerWatts: mains, l1CurrentAmps: legAmps, l2CurrentAmps: legAmps,
            breakerRatingAmps: configuration.breakerRatingAmps,
            l1Voltage: configuration.l1Voltage, doorOpen: s.doorOpen, circuits: circuits,
            batteryStateOfChargePercent: configuration.battery?.stateOfChargePercent,
            batteryStateOfEnergyWattHours: configuration.battery.map { $0.capacityWattHours * $0.stateOfChargePercent / 100 },
            requestedImportLimitWatts: s.requestedImportLimitWatts, ageSeconds: 0)
    }

    /// SPAN reports a circuit feeding a load as negative power; normalise -0 to 0.
    private func circuitPower(_ watts: Double) -> Double {
        watts == 0 ? 0 : -watts
    }
}
