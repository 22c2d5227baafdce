import Foundation

/// A per-gateway retry budget (after Finagle's `RetryBudget` and gRPC's retry throttling): retries and hedges
/// spend tokens that only successful requests earn, so that in an outage retries add at most `ratio` extra
/// load, never a storm.
///
/// Each success deposits ``Configuration/ratio`` tokens into a balance that decays with time constant
/// ``Configuration/windowSeconds`` (old successes do not fund later storms); a small reserve refilled at
/// ``Configuration/minRetriesPerSecond`` lets a quiet gateway still retry. A retry withdraws one token.
public struct RetryBudget: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Retries allowed per success. Default 0.1 (at most 10 % extra load).
        public var ratio: Double
        /// Floor of retries per second regardless of traffic. Default 1.
        public var minRetriesPerSecond: Double
        /// How long an earned token lasts (time constant of the decay). Default 10 s.
        public var windowSeconds: Double

        public init(ratio: Double = 0.1, minRetriesPerSecond: Double = 1, windowSeconds: Double = 10) {
            self.ratio = max(0, ratio)
            self.minRetriesPerSecond = max(0, minRetriesPerSecond)
            self.windowSeconds = max(0.001, windowSeconds)
        }
    }

    public let configuration: Configuration
    private var earned = 0.0
    private var reserve: Double
    private var last: Double?

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.reserve = Self.reserveCapacity(configuration)
    }

    /// The reserve holds up to one second's worth of floor retries (at least one when there is a floor).
    private static func reserveCapacity(_ configuration: Configuration) -> Double {
        configuration.minRetriesPerSecond > 0 ? max(1, configuration.minRetriesPerSecond) : 0
    }

    private mutating func advance(to now: Double) {
        defer { last = max(last ?? now, now) }
        guard let last, now > last else { return }
        let dt = now - last
        earned *= exp(-dt / configuration.windowSeconds)
        reserve = min(Self.reserveCapacity(configuration), reserve + dt * configuration.minRetriesPerSecond)
    }

    /// A request succeeded.
    public mutating func recordSuccess(now: Double) {
        advance(to: now)
        earned += configuration.ratio
    }

    /// Takes one retry token if there is one.
    public mutating func tryRetry(now: Double) -> Bool {
        advance(to: now)
        if earned >= 1 {
            earned -= 1
            return true
        }
        if reserve >= 1 {
            reserve -= 1
            return true
        }
        return false
    }

    /// Tokens available now (earned + reserve), for metrics.
    public mutating func available(now: Double) -> Double {
        advance(to: now)
        return earned + reserve
    }
}
