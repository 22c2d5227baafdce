import Foundation
import HearthProtocol

/// Checks a heartbeat before the gateway acts on it: a node is untrusted, and its telemetry steers placement
/// (admitting, power cap), transformer shares (watts) and the energy ledger (host credit).
///
/// A heartbeat with an impossible count or power report is rejected whole (the node gets an error frame; its
/// liveness still counts). Energy intervals are checked one by one: impossible ones are dropped, the rest kept.
enum NodeHeartbeatValidator {
    enum Verdict: Equatable {
        /// Act on this heartbeat (possibly trimmed); `warning`: what was dropped, for an error frame.
        case accept(NodeHeartbeat, warning: TunnelErrorMessage?)
        case reject(TunnelErrorMessage)
    }

    /// - Parameters:
    ///   - previous: the last heartbeat accepted on this tunnel (sequence numbers must increase).
    ///   - now: Unix seconds, the gateway's clock.
    static func check(_ beat: NodeHeartbeat, previous: NodeHeartbeat?, now: Int64) -> Verdict {
        if let previous, beat.sequence <= previous.sequence {
            return .reject(invalid("sequence \(beat.sequence) does not follow \(previous.sequence)"))
        }
        guard (0...NodeTelemetryLimits.maximumActiveStreams).contains(beat.activeStreams) else {
            return .reject(invalid("active_streams \(beat.activeStreams) is impossible"))
        }
        if let power = beat.power, let problem = problem(with: power) {
            return .reject(invalid(problem))
        }
        if let link = beat.link, let problem = problem(with: link) {
            return .reject(invalid(problem))
        }
        var accepted = beat
        // A home may allow more than the node can draw (a big service, a small node); beyond its full draw the
        // budget means nothing, so it never counts for more in transformer shares.
        accepted.power?.budgetWatts = power(beat.power?.budgetWatts, atMost: beat.power?.fullWatts)
        accepted.power?.homeBudgetWatts = power(beat.power?.homeBudgetWatts, atMost: beat.power?.fullWatts)
        guard let energy = beat.energy else { return .accept(accepted, warning: nil) }
        guard energy.count <= NodeTelemetryLimits.maximumEnergyIntervals else {
            return .reject(invalid("\(energy.count) energy intervals in one heartbeat"))
        }
        let kept = energy.filter { isPlausible($0, now: now) }
        accepted.energy = kept
        let dropped = energy.count - kept.count
        return .accept(accepted, warning: dropped == 0 ? nil : invalid("dropped \(dropped) impossible energy intervals"))
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
        if power.floorWatts > power.fullWatts { return "floor_watts exceeds full_watts" }
        // A share of the GPUs' maximum: above 1 would claim a faster-than-uncapped GPU.
        if !(0...1).contains(power.capFraction) { return "cap_fraction \(power.capFraction) is outside 0-1" }
        return nil
    }

    /// A closed interval of at most an hour, not from the future, not older than a week, with no more energy
    /// than the largest home node could draw in it.
    static func isPlausible(_ interval: EnergyInterval, now: Int64) -> Bool {
        let (seconds, overflow) = interval.end.subtractingReportingOverflow(interval.start)
        guard !overflow, seconds > 0, seconds <= NodeTelemetryLimits.maximumIntervalSeconds else { return false }
        guard interval.end <= now &+ NodeTelemetryLimits.clockSkewSeconds,
            interval.start >= now &- NodeTelemetryLimits.maximumIntervalAgeSeconds
        else { return false }
        let most = NodeTelemetryLimits.maximumNodeWatts * Double(seconds) / 3_600
        return interval.wattHours.isFinite && interval.wattHours >= 0 && interval.wattHours <= most
    }

    private static func invalid(_ message: String) -> TunnelErrorMessage {
        TunnelErrorMessage(code: .malformedFrame, message: "invalid heartbeat: \(message)")
    }
}
