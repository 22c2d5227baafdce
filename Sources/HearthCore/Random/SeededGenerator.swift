import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, seedable generator so every run is reproducible. The
/// simulator's and the home load profiles' randomness: a seed is always an input.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal deviate (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(unit(), .leastNonzeroMagnitude)
        let u2 = unit()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * .pi * u2)
    }

    /// An exponential deviate with the given mean.
    public mutating func exponential(mean: Double) -> Double {
        -mean * Foundation.log(max(1 - unit(), .leastNonzeroMagnitude))
    }
}
