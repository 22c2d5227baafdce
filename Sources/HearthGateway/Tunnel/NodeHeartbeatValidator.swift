import Foundation
import HearthCore
import HearthProtocol

/// Checks a node's heartbeats before the gateway acts on them, one validator per tunnel: a node is untrusted, and its
/// telemetry steers placement (admitting, power cap), transformer shares (watts) and the energy ledger (host credit).
///
/// - Heartbeats faster than the tunnel's pace (``HeartbeatPacer``) are not read at all: a flood costs a counter.
/// - A heartbeat with an impossible count or power report is rejected whole (the node gets an error frame; its
///   liveness still counts). Its full draw may not exceed what its declared hardware draws
///   (``HardwareBounds/maximumDrawWatts``) nor rise within the tunnel above what its first report declared.
/// - Energy intervals go through the tunnel's ``EnergyIntervalGuard``: overlapping, out-of-order, future, too old,
///   too frequent or beyond the declared draw are dropped, the rest kept.
struct NodeHeartbeatValidator {
    enum Verdict: Equatable {
        /// Act on this heartbeat (possibly trimmed); `warning`: what was dropped, for an error frame; `lie`: what in it
        /// no honest node sends (a strike against the node's standing).
        case accept(NodeHeartbeat, warning: TunnelErrorMessage?, lie: String? = nil)
        case reject(TunnelErrorMessage)
    }

    let hardware: HardwareBounds
    private var pacer: HeartbeatPacer
    private var energy = EnergyIntervalGuard(limits: NodeTelemetryLimits.energy)
    private var lastSequence: UInt64?
    /// The full draw the node's first power report on this tunnel declared, watts.
    private(set) var declaredFullWatts: Double?

    init(hardware: HardwareBounds, heartbeatIntervalSeconds: Double) {
        self.hardware = hardware
        pacer = HeartbeatPacer(
            intervalSeconds: heartbeatIntervalSeconds, ratePerInterval: NodeTelemetryLimits.heartbeatsPerInterval,
            burst: NodeTelemetryLimits.heartbeatBurst)
    }

    init(hello: NodeHello, heartbeatIntervalSeconds: Double) {
        self.init(
            hardware: HardwareBounds(gpuNames: hello.hardware.gpus, cpuCores: hello.hardware.cpuCores),
            heartbeatIntervalSeconds: heartbeatIntervalSeconds)
    }

    /// Heartbeat frames not read because they came faster than the pace.
    private(set) var unread = 0

    /// Whether to read a heartbeat frame that arrived at `monotonicSeconds` (before decoding it).
    mutating func admit(at monotonicSeconds: Double) -> Bool {
        let admitted = pacer.admit(now: monotonicSeconds)
        if !admitted { unread &+= 1 }
        return admitted
    }

    /// The most the node may be credited for drawing, watts: its circuit, its declared hardware, its declared full draw.
    var maximumDrawWatts: Double {
        min(NodeTelemetryLimits.maximumNodeWatts, hardware.maximumDrawWatts ?? .infinity, declaredFullWatts ?? .infinity)
    }

    /// - Parameters:
    ///   - now: Unix seconds, the gateway's clock.
    ///   - monotonicSeconds: the gateway's monotonic clock (the ledger's pace).
    mutating func check(_ beat: NodeHeartbeat, now: Int64, monotonicSeconds: Double) -> Verdict {
        if let lastSequence, beat.sequence <= lastSequence {
            return .reject(Self.invalid("sequence \(beat.sequence) does not follow \(lastSequence)"))
        }
        guard (0...NodeTelemetryLimits.maximumActiveStreams).contains(beat.activeStreams) else {
            return .reject(Self.invalid("active_streams \(beat.activeStreams) is impossible"))
        }
        if let others = beat.otherGatewayStreams, !(0...NodeTelemetryLimits.maximumActiveStreams).contains(others) {
            return .reject(Self.invalid("other_gateway_streams \(others) is impossible"))
        }
        if let power = beat.power, let problem = Self.problem(with: power) ?? problem(withDeclared: power) {
            return .reject(Self.invalid(problem))
        }
        if let link = beat.link, let problem = Self.problem(with: link) {
            return .reject(Self.invalid(problem))
        }
        if let energy = beat.energy, energy.count > NodeTelemetryLimits.maximumEnergyIntervals {
            return .reject(Self.invalid("\(energy.count) energy intervals in one heartbeat"))
        }
        lastSequence = beat.sequence
        if let full = beat.power?.fullWatts, declaredFullWatts == nil { declaredFullWatts = full }
        var accepted = beat
        // A home may allow more than the node can draw (a big service, a small node); beyond its full draw the
        // budget means nothing, so it never counts for more in transformer shares.
        accepted.power?.budgetWatts = Self.power(beat.power?.budgetWatts, atMost: beat.power?.fullWatts)
        accepted.power?.homeBudgetWatts = Self.power(beat.power?.homeBudgetWatts, atMost: beat.power?.fullWatts)
        guard let intervals = beat.energy else { return .accept(accepted, warning: nil) }
        let screening = energy.screen(
            intervals.map {
                EnergyMeter.Interval(start: $0.start, end: $0.end, wattHours: $0.wattHours, batteryWattHours: $0.batteryWattHours)
            },
            maximumDrawWatts: maximumDrawWatts, now: now, monotonicSeconds: monotonicSeconds)
        accepted.energy = screening.accepted.map {
            EnergyInterval(start: $0.start, end: $0.end, wattHours: $0.wattHours, batteryWattHours: $0.batteryWattHours)
        }
        guard screening.refusedCount > 0 else { return .accept(accepted, warning: nil) }
        let reasons = screening.refused.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
        let lies = screening.provableLies
        return .accept(
            accepted,
            warning: Self.invalid("dropped \(screening.refusedCount) energy intervals (\(reasons.joined(separator: ", ")))"),
            lie: lies > 0 ? "\(lies) energy intervals out of order or overlapping what the tunnel already reported" : nil)
    }

    /// A full draw beyond the declared hardware, or above what this tunnel's first report declared (an honest node's
    /// full draw is its configuration: it does not grow while it runs).
    private func problem(withDeclared power: NodePowerReport) -> String? {
        if let most = hardware.maximumDrawWatts, power.fullWatts > most {
            return "full_watts \(power.fullWatts) exceeds the \(Int(most)) W the declared hardware draws"
        }
        if let declared = declaredFullWatts, power.fullWatts > declared {
            return "full_watts rose from \(declared) to \(power.fullWatts) on one tunnel"
        }
        return nil
    }

    private static func power(_ watts: Double?, atMost limit: Double?) -> Double? {
        guard let watts, let limit else { return watts }
        return min(watts, limit)
    }

    /// A link report the scheduler would predict from: a round trip under a minute, loss a share, no negative rates.
    private static func problem(with link: LinkReport) -> String? {
        for (name, value) in [("rtt_ms", link.rttMilliseconds), ("jitter_ms", link.jitterMilliseconds)] {
            if let value, !(0...60_000).contains(value) { return "\(name) \(value) is impossible" }
        }
        if !(0...1).contains(link.loss) { return "loss \(link.loss) is outside 0-1" }
        if let bandwidth = link.bandwidthBytesPerSecond, !(bandwidth >= 0 && bandwidth.isFinite) {
            return "bandwidth_bytes_per_second \(bandwidth) is impossible"
        }
        return nil
    }

    private static func problem(with power: NodePowerReport) -> String? {
        let node = 0...NodeTelemetryLimits.maximumNodeWatts
        if power.mode.utf8.count > 32 { return "power mode is too long" }
        for (name, value) in [
            ("draw_watts", power.drawWatts), ("cap_watts", power.capWatts), ("full_watts", power.fullWatts),
            ("floor_watts", power.floorWatts),
        ] where !node.contains(value) {
            return "\(name) \(value) is outside 0-\(Int(NodeTelemetryLimits.maximumNodeWatts)) W"
        }
        for (name, value) in [("budget_watts", power.budgetWatts), ("home_budget_watts", power.homeBudgetWatts)] {
            if let value, !(value >= 0 && value.isFinite) { return "\(name) \(value) is impossible" }
        }
        if let load = power.homeLoadWatts, !(0...NodeTelemetryLimits.maximumHomeLoadWatts).contains(load) {
            return "home_load_watts \(load) is impossible"
        }
        if let soc = power.batteryStateOfCharge, !(0...1).contains(soc) { return "battery_state_of_charge \(soc) is outside 0-1" }
        let flow = -NodeTelemetryLimits.maximumNodeWatts...NodeTelemetryLimits.maximumNodeWatts
        if let watts = power.batteryWatts, !flow.contains(watts) { return "battery_watts \(watts) is impossible" }
        // Importing more than the node draws plus what its battery takes would be a load the node does not have.
        if let grid = power.gridImportWatts, !node.contains(grid) || grid > power.drawWatts + max(0, -(power.batteryWatts ?? 0)) + 1 {
            return "grid_import_watts \(grid) is impossible"
        }
        if power.floorWatts > power.fullWatts { return "floor_watts exceeds full_watts" }
        // A share of the GPUs' maximum: above 1 would claim a faster-than-uncapped GPU.
        if !(0...1).contains(power.capFraction) { return "cap_fraction \(power.capFraction) is outside 0-1" }
        return nil
    }

    private static func invalid(_ message: String) -> TunnelErrorMessage {
        TunnelErrorMessage(code: .malformedFrame, message: "invalid heartbeat: \(message)")
    }
}
