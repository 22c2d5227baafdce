import Foundation
public import HearthCore
public import HearthPanel
public import HearthProtocol
public import Logging
import Synchronization

/// The node's power loop: reads the home panel once per ``Configuration/period``, feeds the readings and the
/// gateway's limits to HearthCore's ``PowerGovernor``, and carries out what it decides (GPU power limit,
/// admission gate, hand-back of running streams). It also meters the node's energy for the host's credit.
///
/// A panel that cannot be read counts as no headroom: the governor drains the node (fail safe).
public final class PowerController: Sendable {
    public struct Configuration: Sendable {
        public var governor: PowerGovernor.Configuration
        /// How often the panel is read (the issue's bound: at least once a second).
        public var period: Duration = .seconds(1)
        public var energyIntervalSeconds: Int64 = 60
        /// Closed energy intervals kept for resending after a reconnect (a day of minutes).
        public var retainedIntervals = 1_440
        /// Hours of the day (local time) the battery charges to full in (a tariff's cheap hours, or the operator's).
        public var cheapHours: Set<Int> = []

        public init(governor: PowerGovernor.Configuration) {
            self.governor = governor
        }
    }

    /// An action the governor decided, with when it was decided (controller seconds); for logs and tests.
    public struct Decision: Sendable, Equatable {
        public var action: PowerGovernor.Action
        public var at: Double
        /// The effective budget that caused it, watts.
        public var budgetWatts: Double?
    }

    private struct State {
        var governor: PowerGovernor
        var homeLoadWatts: Double?
        var drawWatts: Double = 0
        var meter: EnergyMeter
        var retained: [EnergyInterval] = []
        var unsent: [EnergyInterval] = []
        var lastPanelError: String?
        /// Why the panel last had no usable figures, as logged (nil while it has them).
        var lastUnavailable: String?
        var host = HostControls()
        /// Whether quiet hours hold, and the host limit last sent to the governor (nil: none sent yet).
        var quiet = false
        var appliedHostLimit: Double??
        /// Energy the node drew today and this month (local time), for the home's own view.
        var energy = HomeEnergy()
        var lastMeteredAt: Date?
    }

    /// What the home's host asked of the node (its Home Assistant controls): a pause, a maximum draw, quiet hours.
    public struct HostControls: Sendable, Equatable {
        public var paused = false
        /// The most the node may draw, battery included, watts (nil: no limit of the host's).
        public var maxDrawWatts: Double?
        /// When the node keeps to its floor (host and GPUs at minimum), by the node's local clock; nil: never.
        public var quietHours: QuietHours?

        public init(paused: Bool = false, maxDrawWatts: Double? = nil, quietHours: QuietHours? = nil) {
            self.paused = paused
            self.maxDrawWatts = maxDrawWatts
            self.quietHours = quietHours
        }

        /// The host's limit on the node's draw while quiet hours are `quiet` or not: 0 when paused.
        public func limitWatts(quiet: Bool, floorWatts: Double) -> Double? {
            if paused { return 0 }
            guard quiet else { return maxDrawWatts }
            return min(maxDrawWatts ?? .infinity, floorWatts)
        }
    }

    /// The node's energy today and this month, Wh, by the node's local calendar.
    public struct HomeEnergy: Sendable, Equatable {
        public var todayWattHours = 0.0
        public var monthWattHours = 0.0
        var day: DateComponents?

        /// The local day `day` stands for, in days since the epoch: the calendar is asked only when it changes.
        var dayNumber: Int?

        mutating func add(_ wattHours: Double, at date: Date) {
            let local = date.timeIntervalSince1970 + Double(TimeZone.current.secondsFromGMT(for: date))
            let number = Int((local / 86_400).rounded(.down))
            if number != dayNumber {
                let today = Calendar.current.dateComponents([.year, .month, .day], from: date)
                if let day, day.year != today.year || day.month != today.month { monthWattHours = 0 }
                if day != today { todayWattHours = 0 }
                day = today
                dayNumber = number
            }
            todayWattHours += wattHours
            monthWattHours += wattHours
        }
    }

    public let configuration: Configuration
    public let gate: AdmissionGate
    private let panel: any HomePanel
    private let limiter: any GPUPowerLimiter
    private let logger: Logger
    private let epoch = ContinuousClock.now
    private let state: Mutex<State>
    private let decided = Broadcast<Decision>()
    private let drawObserver: (@Sendable (Double) -> Void)?

    /// - Parameter drawObserver: told the node's draw after every step (a simulated panel adds it to its mains).
    public init(
        panel: any HomePanel, limiter: any GPUPowerLimiter, configuration: Configuration, logger: Logger,
        drawObserver: (@Sendable (Double) -> Void)? = nil
    ) {
        self.panel = panel
        self.limiter = limiter
        self.configuration = configuration
        self.logger = logger
        self.drawObserver = drawObserver
        let governor = PowerGovernor(configuration: configuration.governor)
        gate = AdmissionGate(admitting: governor.mode.isAdmitting)
        state = Mutex(
            State(
                governor: governor, drawWatts: governor.allowedDrawWatts,
                meter: EnergyMeter(intervalSeconds: configuration.energyIntervalSeconds)))
        drawObserver?(governor.allowedDrawWatts)
    }

    /// Seconds since this controller started: the governor's clock.
    public var now: Double { (ContinuousClock.now - epoch).seconds }

    /// Reads the panel every period, and at once whenever a panel that announces changes (``HomePanel/changeGeneration``)
    /// publishes new figures, until cancelled: a load that starts in the home reaches the GPUs' limit in the time it
    /// takes to read the message, not at the next poll. The node's draw is metered once a period.
    public func run() async {
        let clock = ContinuousClock()
        var nextPeriod = clock.now
        while !Task.isCancelled {
            let periodDue = clock.now >= nextPeriod
            if periodDue { nextPeriod = clock.now.advanced(by: configuration.period) }
            // Read before the snapshot: a message that arrives while this step runs wakes the next one.
            let seen = panel.changeGeneration
            await step(metering: periodDue)
            await waitForPeriod(until: nextPeriod, orChangeAfter: seen)
        }
    }

    private func waitForPeriod(until deadline: ContinuousClock.Instant, orChangeAfter seen: UInt64?) async {
        guard let seen else {
            try? await Task.sleep(until: deadline, clock: .continuous)
            return
        }
        let panel = self.panel
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            group.addTask { await panel.waitForChange(after: seen) }
            await group.next()
            group.cancelAll()
        }
    }

    /// One panel reading and everything that follows from it, and the node's draw metered.
    public func step() async { await step(metering: true) }

    private func step(metering: Bool) async {
        let at = now
        let draw = state.withLock { $0.drawWatts }
        let reading: PanelReading
        do {
            let snapshot = try await panel.snapshot()
            reading = snapshot.reading(nodeDrawWatts: draw, at: at)
            state.withLock { $0.lastPanelError = nil }
            noteAvailability(snapshot.unavailableBecause)
        } catch {
            let message = "\(error)"
            let first = state.withLock { state in
                defer { state.lastPanelError = message }
                return state.lastPanelError != message
            }
            if first { logger.error("cannot read the home panel; treating it as no headroom", metadata: ["error": "\(message)"]) }
            reading = PanelReading(homeLoadWatts: nil, breakerRatingAmps: 0, at: at)
        }
        if !PowerBudget.compute(reading, configuration: configuration.governor.budget).isKnown, reading.homeLoadWatts != nil {
            logger.warning("implausible panel reading; treating it as no headroom", metadata: ["reading": "\(reading)"])
        }
        state.withLock { $0.homeLoadWatts = reading.isPlausible ? reading.homeLoadWatts : nil }
        // Once a period, not on every panel message: the hour changes slowly and the calendar is not cheap.
        if metering, configuration.governor.battery != nil {
            let cheap = configuration.cheapHours.contains(Calendar.current.component(.hour, from: Date()))
            if state.withLock({ $0.governor.battery?.cheapHour != cheap }) { await handle(.cheapHour(cheap), at: at) }
        }
        // Quiet hours begin and end on the clock: checked once a period.
        if metering, state.withLock({ $0.host.quietHours != nil || $0.quiet }) { await applyHostLimit(at: at, date: Date()) }
        await handle(.panelReading(reading), at: at)
        if metering { await meter(at: at) }
    }

    /// Logs why the panel has no usable figures when that changes: a node that stays drained says why, once.
    private func noteAvailability(_ reason: String?) {
        let changed = state.withLock { state -> Bool in
            defer { state.lastUnavailable = reason }
            return state.lastUnavailable != reason
        }
        guard changed else { return }
        if let reason {
            logger.warning("the home panel gives no usable reading; the node draws no more than its floor", metadata: ["why": "\(reason)"])
        } else {
            logger.notice("the home panel's readings are usable again")
        }
    }

    /// The host's controls, applied at once: a pause powers the node down (its streams go back to the gateway), a
    /// maximum draw caps it like any other limit.
    public func setHostControls(_ controls: HostControls) async {
        state.withLock { $0.host = controls }
        await applyHostLimit(at: now, date: Date())
        logger.notice(
            "host controls",
            metadata: [
                "paused": "\(controls.paused)", "max_draw_w": "\(controls.maxDrawWatts.map { String(Int($0)) } ?? "none")",
                "quiet_hours": "\(controls.quietHours?.description ?? "none")",
            ])
    }

    /// Whether the host's quiet hours hold now (by the node's local clock).
    public var isQuiet: Bool { state.withLock { $0.quiet } }

    /// The host's limit as it stands at `date`: sent to the governor when it changed (quiet hours begin or end).
    private func applyHostLimit(at: Double, date: Date) async {
        let (limit, changed) = state.withLock { state -> (Double?, Bool) in
            let minute = Calendar.current.dateComponents([.hour, .minute], from: date)
            state.quiet = state.host.quietHours?.contains(minuteOfDay: (minute.hour ?? 0) * 60 + (minute.minute ?? 0)) ?? false
            let limit = state.host.limitWatts(quiet: state.quiet, floorWatts: configuration.governor.floorWatts)
            defer { state.appliedHostLimit = .some(limit) }
            return (limit, state.appliedHostLimit != .some(limit))
        }
        if changed { await handle(.hostLimit(watts: limit), at: at) }
    }

    public var hostControls: HostControls { state.withLock { $0.host } }

    /// The node's energy today and this month.
    public var homeEnergy: HomeEnergy { state.withLock { $0.energy } }

    /// The gateway's transformer budget and grid cap.
    public func apply(_ limit: PowerLimit) async {
        let at = now
        await handle(.budgetChange(watts: limit.transformerBudgetWatts), at: at)
        await handle(.gridCap(watts: limit.gridCapWatts), at: at)
        if let reason = limit.reason { logger.info("gateway power limit", metadata: ["reason": "\(reason)"]) }
    }

    private func handle(_ event: PowerGovernor.Event, at: Double) async {
        let (actions, budget) = state.withLock { state in
            (state.governor.handle(event, now: at), state.governor.effectiveBudgetWatts(now: at))
        }
        for action in actions { await perform(action, budget: budget, at: at) }
    }

    private func perform(_ action: PowerGovernor.Action, budget: Double?, at: Double) async {
        switch action {
        case .setGPUPowerLimit(let watts):
            do { try await limiter.setTotalLimit(watts: watts) } catch {
                logger.error("could not set the GPU power limit", metadata: ["watts": "\(Int(watts))", "error": "\(error)"])
            }
        case .pauseAdmissions: gate.pause()
        case .resumeAdmissions: gate.resume()
        case .drain(let handBack): if handBack { gate.handBack() }
        case .powerDown, .restore: break  // the engine stays loaded; with the GPUs at their minimum limit it idles
        }
        logger.notice(
            "power action", metadata: ["action": "\(action)", "budget_w": "\(budget.map { String(Int($0)) } ?? "unknown")"])
        decided.yield(Decision(action: action, at: at, budgetWatts: budget))
    }

    private func meter(at: Double) async {
        let measured = await limiter.drawWatts()
        let draw = state.withLock { state in
            let governor = state.governor
            let draw =
                measured.map { governor.mode == .off ? 0 : governor.configuration.hostWatts + $0 } ?? governor.allowedDrawWatts
            state.drawWatts = draw
            let wallClock = Date()
            if let last = state.lastMeteredAt {
                state.energy.add(draw * max(0, wallClock.timeIntervalSince(last)) / 3_600, at: wallClock)
            }
            state.lastMeteredAt = wallClock
            // What the battery gives of the draw (a node without one: nil), so the ledger credits grid and battery apart.
            let fromBattery = governor.battery.map { _ in min(draw, max(0, draw - governor.gridImport(forDraw: draw))) }
            let closed = state.meter.record(watts: draw, batteryWatts: fromBattery, at: wallClock.timeIntervalSince1970)
            for interval in closed {
                let record = EnergyInterval(
                    start: interval.start, end: interval.end, wattHours: interval.wattHours, batteryWattHours: interval.batteryWattHours)
                state.retained.append(record)
                state.unsent.append(record)
            }
            if state.retained.count > configuration.retainedIntervals {
                state.retained.removeFirst(state.retained.count - configuration.retainedIntervals)
            }
            return draw
        }
        drawObserver?(draw)
    }

    /// What to put in the next heartbeat.
    public func report() -> NodePowerReport {
        let at = now
        return state.withLock { state in
            let status = state.governor.status(now: at)
            let c = state.governor.configuration
            return NodePowerReport(
                mode: status.mode.rawValue, budgetWatts: status.budgetWatts, drawWatts: state.drawWatts, capWatts: status.capWatts,
                capFraction: status.capFraction, homeLoadWatts: state.homeLoadWatts,
                homeBudgetWatts: state.governor.homeBudgetWatts, fullWatts: c.fullWatts, floorWatts: state.governor.gridFloorWatts,
                batteryStateOfCharge: status.batteryStateOfCharge, batteryWatts: status.batteryWatts,
                gridImportWatts: status.batteryWatts.map { _ in state.governor.gridImport(forDraw: state.drawWatts) })
        }
    }

    /// Energy intervals for the next heartbeat: those not yet sent, or on a new tunnel every retained one
    /// (the gateway stores each interval once, so resending is safe and covers a tunnel that died with
    /// intervals in flight). At most `limit` per heartbeat.
    func takeEnergy(newTunnel: Bool, limit: Int = 120) -> [EnergyInterval] {
        state.withLock { state in
            if newTunnel { state.unsent = state.retained }
            let batch = Array(state.unsent.prefix(limit))
            state.unsent.removeFirst(batch.count)
            return batch
        }
    }

    /// The governor's current status.
    public var status: PowerGovernor.Status {
        let at = now
        return state.withLock { $0.governor.status(now: at) }
    }

    /// Every decision from now on.
    public func decisions() -> AsyncStream<Decision> { decided.subscribe() }
}
