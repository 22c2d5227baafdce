import Testing

@testable import HearthCore

@Suite struct EnergyMeterTests {
    @Test func integratesAStepFunctionIntoAlignedIntervals() {
        var meter = EnergyMeter(intervalSeconds: 60)
        var closed: [EnergyMeter.Interval] = []
        // 3.6 kW for 90 s from t = 30: 30 s in [0, 60) and 60 s in [60, 120).
        for t in stride(from: 30.0, through: 120.0, by: 1) { closed += meter.record(watts: 3_600, at: t) }
        #expect(closed.map(\.start) == [0, 60])
        #expect(abs(closed[0].wattHours - 30) < 1e-9)
        #expect(abs(closed[1].wattHours - 60) < 1e-9)
    }

    @Test func theBatterysShareIsIntegratedBesideTheDraw() {
        var meter = EnergyMeter(intervalSeconds: 60, maximumGapSeconds: 60)
        _ = meter.record(watts: 3_600, batteryWatts: 2_400, at: 0)
        _ = meter.record(watts: 3_600, batteryWatts: 0, at: 30)
        let closed = meter.record(watts: 0, batteryWatts: 0, at: 60)
        #expect(closed == [EnergyMeter.Interval(start: 0, end: 60, wattHours: 60, batteryWattHours: 20)])
        #expect(closed.first?.gridWattHours == 40)
        // A share above the draw counts as the draw: a battery cannot give more than the node takes.
        var odd = EnergyMeter(intervalSeconds: 60, maximumGapSeconds: 60)
        _ = odd.record(watts: 3_600, batteryWatts: 9_999, at: 0)
        #expect(odd.record(watts: 0, batteryWatts: 0, at: 60).first?.batteryWattHours == 60)
    }

    @Test func aGapIsNotBilled() {
        var meter = EnergyMeter(intervalSeconds: 60, maximumGapSeconds: 10)
        _ = meter.record(watts: 1_000, at: 0)
        _ = meter.record(watts: 1_000, at: 5)
        let closed = meter.record(watts: 1_000, at: 500)
        #expect(closed.count == 1)
        #expect(abs(closed[0].wattHours - 1_000 * 5 / 3600) < 1e-9)
    }

    @Test func hostileSamplesCountAsZero() {
        var meter = EnergyMeter(intervalSeconds: 10)
        _ = meter.record(watts: .nan, at: 0)
        _ = meter.record(watts: -5, at: 5)
        let closed = meter.record(watts: 100, at: 10)
        #expect(closed.count == 1 && closed[0].wattHours == 0)
    }
}
