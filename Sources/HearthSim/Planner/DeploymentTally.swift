import HearthCore

/// What one deployment's simulated windows add up to: request counts, latency histograms, per-class SLO
/// tallies and per-hour energy terms. Windows are tallied apart (in any order, on any thread) and merged.
struct DeploymentTally: Sendable {
    struct ClassTally: Sendable {
        var requests = 0
        var met = 0
        var refused = 0
        var ttft = LogHistogram()
        var tpot = LogHistogram()

        mutating func merge(_ other: ClassTally) {
            requests += other.requests
            met += other.met
            refused += other.refused
            ttft.merge(other.ttft)
            tpot.merge(other.tpot)
        }
    }

    /// One hour of the day's terms at simulated scale.
    struct HourTally: Sendable {
        /// Measured (counted) seconds simulated for this hour.
        var seconds = 0.0
        /// Nodes of the deployment, drained ones included (they still idle).
        var nodes = 0
        /// Σ over nodes of busy share × (0.45 + 0.55 × batch fill): the dynamic-power share.
        var dynamicShare = 0.0
        /// Σ over nodes of busy share × batch fill × slots: sequences in flight.
        var inFlight = 0.0
        /// Prompt + output tokens of served requests.
        var tokens = 0.0
        var requests = 0
        var met = 0

        mutating func merge(_ other: HourTally) {
            seconds += other.seconds
            nodes += other.nodes
            dynamicShare += other.dynamicShare
            inFlight += other.inFlight
            tokens += other.tokens
            requests += other.requests
            met += other.met
        }
    }

    var requests = 0
    var served = 0
    var refused = 0
    var lost = 0
    var classes: [TaskClass: ClassTally] = [:]
    var ttft = LogHistogram()
    var tpot = LogHistogram()
    var rtt = LogHistogram()
    var rttSum = 0.0
    var hours: [Int: HourTally] = [:]
    var uplinkPeak = 0.0
    var thefts = 0
    var outages = 0

    /// Counted seconds over all windows (goodput's denominator).
    // Summed in hour order: dictionary order differs between runs and floating-point sums depend on it.
    var seconds: Double { hours.keys.sorted().reduce(0) { $0 + hours[$1]!.seconds } }

    mutating func merge(_ other: DeploymentTally) {
        requests += other.requests
        served += other.served
        refused += other.refused
        lost += other.lost
        for (c, t) in other.classes { classes[c, default: ClassTally()].merge(t) }
        ttft.merge(other.ttft)
        tpot.merge(other.tpot)
        rtt.merge(other.rtt)
        rttSum += other.rttSum
        for (h, t) in other.hours { hours[h, default: HourTally()].merge(t) }
        uplinkPeak = max(uplinkPeak, other.uplinkPeak)
        thefts += other.thefts
        outages += other.outages
    }

    /// Counts one request's outcome (`ttft` already corrected to its user's round trip).
    mutating func add(_ o: RequestOutcome, met: Bool, rttMs: Double?, hour: Int) {
        requests += 1
        if o.refused {
            refused += 1
        } else if o.lost {
            lost += 1
        } else {
            served += 1
            ttft.add(o.ttft * 1000)
            if o.outputTokens > 1 { tpot.add(o.tpot * 1000) }
            if let rttMs {
                rtt.add(rttMs)
                rttSum += rttMs
            }
        }
        // In place (the dictionaries' `_modify`): copying a tally out would copy its histograms for every request.
        Self.count(o, met: met, into: &classes[o.taskClass, default: ClassTally()])
        Self.count(o, met: met, into: &hours[hour, default: HourTally()])
    }

    private static func count(_ o: RequestOutcome, met: Bool, into c: inout ClassTally) {
        c.requests += 1
        if o.refused {
            c.refused += 1
        } else if !o.lost {
            c.ttft.add(o.ttft * 1000)
            if o.outputTokens > 1 { c.tpot.add(o.tpot * 1000) }
            if met { c.met += 1 }
        }
    }

    private static func count(_ o: RequestOutcome, met: Bool, into h: inout HourTally) {
        h.requests += 1
        guard !o.refused, !o.lost else { return }
        h.tokens += Double(o.promptTokens + o.outputTokens)
        if met { h.met += 1 }
    }

    func classReports() -> [String: ClassReport] {
        let duration = max(seconds, 1e-9)
        func r2(_ x: Double) -> Double { (x * 100).rounded() / 100 }
        var out: [String: ClassReport] = [:]
        for (taskClass, c) in classes where c.requests > 0 {
            out[taskClass.rawValue] = ClassReport(
                requests: c.requests, slo_attainment: Double(c.met) / Double(c.requests), goodput_rps: Double(c.met) / duration,
                refused: c.refused, ttft_p50_ms: r2(c.ttft.percentile(0.5)), ttft_p99_ms: r2(c.ttft.percentile(0.99)),
                tpot_p50_ms: r2(c.tpot.percentile(0.5)), tpot_p99_ms: r2(c.tpot.percentile(0.99)))
        }
        return out
    }

    var met: Int { classes.values.reduce(0) { $0 + $1.met } }
}
