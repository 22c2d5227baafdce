import Foundation

/// Counts of non-negative values (milliseconds here) in logarithmic buckets 1 % wide, so a day of requests
/// needs kilobytes instead of a sorted array per figure, and windows simulated apart merge exactly.
///
/// A percentile is the geometric middle of the bucket holding that rank, clamped to the exact minimum and
/// maximum seen: at most ±0.5 % off the exact order statistic (values below 1 µs count as 0).
struct LogHistogram: Sendable, Hashable {
    static let lowest = 1e-3
    static let ratio = 1.01
    static let logRatio = Foundation.log(ratio)
    /// 10⁻³ ms … 10⁷ ms (≈ 2.8 h); larger values land in the last bucket.
    static let bucketCount = Int((Foundation.log(1e7 / lowest) / logRatio).rounded(.up)) + 1

    private(set) var counts: [Int] = []
    private(set) var zero = 0
    private(set) var total = 0
    private(set) var minimum = Double.infinity
    private(set) var maximum = -Double.infinity

    mutating func add(_ x: Double) {
        total += 1
        minimum = Swift.min(minimum, x)
        maximum = Swift.max(maximum, x)
        guard x >= Self.lowest else {
            zero += 1
            return
        }
        if counts.isEmpty { counts = Array(repeating: 0, count: Self.bucketCount) }
        let index = Swift.min(Self.bucketCount - 1, Int(Foundation.log(x / Self.lowest) / Self.logRatio))
        counts[index] += 1
    }

    mutating func merge(_ other: LogHistogram) {
        guard other.total > 0 else { return }
        if counts.isEmpty { counts = Array(repeating: 0, count: Self.bucketCount) }
        for (i, c) in other.counts.enumerated() where c > 0 { counts[i] += c }
        zero += other.zero
        total += other.total
        minimum = Swift.min(minimum, other.minimum)
        maximum = Swift.max(maximum, other.maximum)
    }

    /// The value at rank `q × (total − 1)` (the lower neighbour of numpy's linear interpolation), 0 when empty.
    func percentile(_ q: Double) -> Double {
        guard total > 0 else { return 0 }
        let rank = Int((q * Double(total - 1)).rounded(.down))
        if rank < zero { return Swift.max(0, Swift.min(minimum, Self.lowest)) }
        var seen = zero
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen > rank {
                let middle = Self.lowest * Foundation.pow(Self.ratio, Double(i) + 0.5)
                return Swift.min(maximum, Swift.max(minimum, middle))
            }
        }
        return maximum
    }
}
