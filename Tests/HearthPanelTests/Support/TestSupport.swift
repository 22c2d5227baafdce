import HearthCore
import Synchronization
import Testing

@testable import HearthPanel

/// A deterministic generator for fuzzing (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Settable simulated time for ``SimulatedPanel``.
final class SimulatedTime: Sendable {
    private let seconds: Mutex<Double>

    init(_ start: Double) { seconds = Mutex(start) }

    var now: Double { seconds.withLock { $0 } }

    func set(_ value: Double) { seconds.withLock { $0 = value } }
}

/// Checks every figure a snapshot gives is finite and physically plausible, and that a reading built from it is
/// either plausible or unknown to the governor.
func expectPlausible(_ snapshot: PanelSnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
    func check(_ value: Double?, _ range: ClosedRange<Double>, _ name: String) {
        guard let value else { return }
        #expect(value.isFinite && range.contains(value), "\(name) = \(value)", sourceLocation: sourceLocation)
    }
    check(snapshot.mainsActivePowerWatts, -300_000...300_000, "mains")
    check(snapshot.l1CurrentAmps, -2_000...2_000, "l1")
    check(snapshot.l2CurrentAmps, -2_000...2_000, "l2")
    check(snapshot.breakerRatingAmps, 1...2_000, "breaker")
    check(snapshot.l1Voltage, 60...300, "voltage")
    check(snapshot.batteryStateOfChargePercent, 0...100, "soc")
    check(snapshot.batteryStateOfEnergyWattHours, 0...10_000_000, "soe")
    check(snapshot.requestedImportLimitWatts, 0...1_000_000, "limit")
    check(snapshot.ageSeconds, 0...1e9, "age")
    for circuit in snapshot.circuits { check(circuit.activePowerWatts, -300_000...300_000, "circuit \(circuit.id)") }
    let reading = snapshot.reading(nodeDrawWatts: 1_000, at: 1e6)
    let budget = PowerBudget.compute(reading)
    if budget.isKnown {
        #expect(reading.isPlausible, sourceLocation: sourceLocation)
        #expect(budget.watts.isFinite && budget.watts >= 0, sourceLocation: sourceLocation)
    }
}

/// Whether the governor would get any headroom from this snapshot right now.
func isKnownToGovernor(_ snapshot: PanelSnapshot, nodeDrawWatts: Double = 0) -> Bool {
    PowerBudget.compute(snapshot.reading(nodeDrawWatts: nodeDrawWatts, at: 100)).isKnown
}
