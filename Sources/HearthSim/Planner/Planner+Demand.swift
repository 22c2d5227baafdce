import Foundation
import HearthCore

extension Planner {
    /// One simulated window of demand: the requests (warm-up first) and the user centre of each.
    public struct Demand: Sendable {
        public var requests: [TraceRequest]
        /// User centre of each request.
        public var centres: [Int]
        /// Hour of day (0–23) the window stands for.
        public var hour: Int
        /// Requests arriving before this many seconds warm the fleet up and are not counted.
        public var warmupSeconds: Double
        /// Requests per trace (counted ones), in the scenario's order.
        public var perTrace: [Int]

        /// Requests that count (arrival at or after the warm-up).
        public var counted: Int { requests.reduce(0) { $0 + ($1.arrival >= warmupSeconds ? 1 : 0) } }
    }

    /// The scenario's traces, read once, the daily profile and where each window starts in each trace.
    struct DemandModel: Sendable {
        let traces: [Trace]
        let shares: [Double]
        let infos: [PlanReport.TraceInfo]
        /// Relative load by hour of day (max 1), from the first trace.
        let hourlyShape: [Double]
        let busyHour: Int
        /// Hour of each simulated window, in order.
        let hours: [Int]
        /// Window length, warm-up included, s.
        let length: Double
        let warmup: Double
        /// compression[k][i]: trace seconds per simulated second of trace i in window k; cursor[k][i]: where window k
        /// starts in trace i's endless repetition, trace seconds.
        let compression: [[Double]]
        let cursor: [[Double]]
        let seed: UInt64
        let users: [Double]

        init(_ s: Scenario) throws(PlanError) {
            var traces: [Trace] = []
            for (i, source) in s.demand.traces.enumerated() {
                do {
                    let trace = try TraceGenerator.readOrGenerate(path: source.path, seed: s.seed &+ UInt64(i))
                    guard trace.requests.count > 1, trace.duration > 0 else {
                        throw PlanError(
                            .io, field: "demand.trace[\(i)].path", "the trace needs at least two requests at different times",
                            file: s.file, line: source.line)
                    }
                    traces.append(trace)
                } catch let error as PlanError {
                    throw error
                } catch {
                    throw PlanError(.io, field: "demand.trace[\(i)].path", "\(error)", file: s.file, line: source.line)
                }
            }
            self.traces = traces
            let totalShare = s.demand.traces.reduce(0) { $0 + $1.share }
            shares = s.demand.traces.map { $0.share / totalShare }
            infos = zip(traces, shares).map { trace, share in
                PlanReport.TraceInfo(
                    path: trace.path, format: trace.format.rawValue, generated_from: trace.generatedFrom, share: share, requests: 0)
            }
            let minutes = PowerSimulation.dailyUtilization(traces[0], peak: 1)
            var shape = (0..<24).map { h in minutes[(h * 60)..<(h * 60 + 60)].reduce(0, +) / 60 }
            let top = shape.max() ?? 1
            shape = shape.map { top > 0 ? $0 / top : 1 }
            hourlyShape = shape
            busyHour = shape.indices.max { shape[$0] < shape[$1] } ?? 0
            hours = s.hours == 24 ? Array(0..<24) : [busyHour]
            warmup = s.warmupSeconds
            length = s.warmupSeconds + s.durationSeconds
            var compressions: [[Double]] = []
            var cursors: [[Double]] = []
            var at = [Double](repeating: 0, count: traces.count)
            let normalised = shares
            for hour in hours {
                let c = traces.indices.map { i in
                    let target = s.demand.ratePerSecond * s.scale * normalised[i] * shape[hour]
                    return target / Self.nativeRate(traces[i])
                }
                compressions.append(c)
                cursors.append(at)
                for i in at.indices { at[i] += (s.warmupSeconds + s.durationSeconds) * c[i] }
            }
            compression = compressions
            cursor = cursors
            seed = s.seed
            users = s.users.map(\.weight)
        }

        /// Requests per second of one pass of the trace, its repetition period counted (duration + one mean gap).
        static func nativeRate(_ trace: Trace) -> Double { Double(trace.requests.count) / period(trace) }

        static func period(_ trace: Trace) -> Double { trace.duration * Double(trace.requests.count) / Double(trace.requests.count - 1) }

        /// Requests expected over every window (for the progress bar).
        var expectedRequests: Double {
            compression.reduce(0) { acc, c in acc + zip(c, traces).reduce(0) { $0 + $1.0 * length * Self.nativeRate($1.1) } }
        }

        /// The requests of window `k`: each trace played in an endless repetition (each copy's prefixes and sessions
        /// salted, so copies share no cache), compressed to its share of the hour's rate, merged by arrival.
        func window(_ k: Int) -> Demand {
            var merged: [TraceRequest] = []
            var perTrace: [Int] = []
            for (i, trace) in traces.enumerated() {
                let c = compression[k][i]
                guard c > 0 else {
                    perTrace.append(0)
                    continue
                }
                let period = Self.period(trace)
                let t0 = trace.requests[0].arrival
                let start = cursor[k][i]
                let end = start + length * c
                var copy = Int((start / period).rounded(.down))
                let offset = start - Double(copy) * period
                var index = trace.requests.partitioningIndex { $0.arrival - t0 >= offset }
                let traceSalt = UInt64(i + 1) &* 0xA24B_AED4_963E_E407
                var counted = 0
                while true {
                    if index == trace.requests.count {
                        copy += 1
                        index = 0
                    }
                    let v = Double(copy) * period + (trace.requests[index].arrival - t0)
                    guard v < end else { break }
                    var r = trace.requests[index]
                    r.arrival = (v - start) / c
                    let salt = traceSalt ^ (UInt64(copy) &* 0x9E37_79B9_7F4A_7C15)
                    r.prefixHashes = r.prefixHashes.map { $0 ^ salt }
                    r.sessionKey = r.sessionKey.map { $0 ^ salt }
                    merged.append(r)
                    if r.arrival >= warmup { counted += 1 }
                    index += 1
                }
                perTrace.append(counted)
            }
            merged.sort { $0.arrival < $1.arrival }
            var rng = SeededGenerator(seed: seed ^ 0x05E2_5C0E ^ (UInt64(k) &* 0xD1B5_4A32_D192_ED03))
            let total = users.reduce(0, +)
            let centres = merged.map { _ -> Int in
                var x = rng.unit() * total
                for (i, w) in users.enumerated() {
                    if x < w { return i }
                    x -= w
                }
                return users.count - 1
            }
            return Demand(requests: merged, centres: centres, hour: hours[k], warmupSeconds: warmup, perTrace: perTrace)
        }
    }
}

extension RandomAccessCollection {
    /// The first index whose element satisfies `predicate`, for a collection partitioned by it (binary search).
    func partitioningIndex(where predicate: (Element) -> Bool) -> Index {
        var low = startIndex
        var count = self.count
        while count > 0 {
            let half = count / 2
            let middle = index(low, offsetBy: half)
            if predicate(self[middle]) {
                count = half
            } else {
                low = index(after: middle)
                count -= half + 1
            }
        }
        return low
    }
}
