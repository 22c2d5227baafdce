import HearthCore
import Testing

/// A node's energy intervals credit its home: each second at most once, never beyond what its hardware draws.
@Suite struct EnergyIntervalGuardTests {
    static let now: Int64 = 1_800_000_000

    static func minute(_ index: Int64, wattHours: Double = 10) -> EnergyMeter.Interval {
        EnergyMeter.Interval(start: now - 3_600 + index * 60, end: now - 3_600 + (index + 1) * 60, wattHours: wattHours)
    }

    @Test func anHonestNodesMinutesAreAcceptedInOrder() {
        var guardian = EnergyIntervalGuard()
        let first = guardian.screen((0..<3).map { Self.minute($0) }, maximumDrawWatts: 1_000, now: Self.now, monotonicSeconds: 0)
        let second = guardian.screen([Self.minute(3)], maximumDrawWatts: 1_000, now: Self.now, monotonicSeconds: 60)
        #expect(first.accepted.count == 3 && first.refused.isEmpty)
        #expect(second.accepted == [Self.minute(3)])
    }

    @Test func overlappingAndOutOfOrderIntervalsAreRefusedNotSummed() {
        var guardian = EnergyIntervalGuard()
        let whole = Self.minute(10)
        let halves = [
            EnergyMeter.Interval(start: whole.start, end: whole.start + 30, wattHours: 5),
            EnergyMeter.Interval(start: whole.start + 30, end: whole.end, wattHours: 5),
        ]
        // The minute, then the same minute sliced in two, then an earlier minute, then the same minute shifted.
        let screening = guardian.screen(
            [whole] + halves + [Self.minute(9), EnergyMeter.Interval(start: whole.start + 1, end: whole.end + 1, wattHours: 1)],
            maximumDrawWatts: 1_000, now: Self.now, monotonicSeconds: 0)
        #expect(screening.accepted == [whole])
        #expect(screening.refused == [.outOfOrder: 4])
        // No meter sends these: each is a strike against the node, unlike a wrong clock's future interval.
        #expect(screening.provableLies == 4)
        // A later heartbeat cannot go back either.
        let later = guardian.screen(halves, maximumDrawWatts: 1_000, now: Self.now, monotonicSeconds: 1)
        #expect(later.accepted.isEmpty && later.refused == [.outOfOrder: 2])
    }

    @Test func noMoreEnergyThanTheDeclaredHardwareDraws() {
        var guardian = EnergyIntervalGuard()
        // 1 kW for a minute is 16.67 Wh.
        let screening = guardian.screen(
            [
                Self.minute(0, wattHours: 16.6), Self.minute(1, wattHours: 16.7), Self.minute(2, wattHours: -1),
                Self.minute(3, wattHours: .nan),
            ],
            maximumDrawWatts: 1_000, now: Self.now, monotonicSeconds: 0)
        #expect(screening.accepted == [Self.minute(0, wattHours: 16.6)])
        #expect(screening.refused == [.moreThanTheHardwareDraws: 3])
    }

    @Test func futureAncientMalformedAndOverlongIntervalsAreRefused() {
        var guardian = EnergyIntervalGuard()
        let screening = guardian.screen(
            [
                EnergyMeter.Interval(start: Self.now + 600, end: Self.now + 660, wattHours: 1),
                EnergyMeter.Interval(start: Self.now - 8 * 86_400, end: Self.now - 8 * 86_400 + 60, wattHours: 1),
                EnergyMeter.Interval(start: .min, end: .max, wattHours: 1),
                EnergyMeter.Interval(start: Self.now - 60, end: Self.now - 60, wattHours: 0),
                EnergyMeter.Interval(start: Self.now - 7_300, end: Self.now - 100, wattHours: 1),
            ], maximumDrawWatts: 1_000, now: Self.now, monotonicSeconds: 0)
        #expect(screening.accepted.isEmpty)
        #expect(screening.refused == [.fromTheFuture: 1, .tooOld: 1, .malformed: 2, .tooLong: 1])
    }

    @Test func aBatteryShareBeyondTheDrawOrBelowNothingIsRefused() {
        let limits = EnergyIntervalGuard.Limits()
        func with(battery: Double) -> EnergyMeter.Interval {
            var interval = Self.minute(1)
            interval.batteryWattHours = battery
            return interval
        }
        #expect(EnergyIntervalGuard.refusal(of: with(battery: 10), maximumDrawWatts: 1_000, now: Self.now, limits: limits) == nil)
        #expect(EnergyIntervalGuard.refusal(of: with(battery: 0), maximumDrawWatts: 1_000, now: Self.now, limits: limits) == nil)
        for bad in [10.5, -1, .nan, .infinity] {
            #expect(
                EnergyIntervalGuard.refusal(of: with(battery: bad), maximumDrawWatts: 1_000, now: Self.now, limits: limits) == .malformed)
        }
    }

    @Test func tooFrequentIntervalsAreRefusedUntilTheClockAllowsMore() {
        var guardian = EnergyIntervalGuard(limits: .init(burstIntervals: 4, secondsPerInterval: 10))
        let seconds = (0..<6).map { i in EnergyMeter.Interval(start: Self.now - 100 + i, end: Self.now - 99 + i, wattHours: 0.1) }
        let burst = guardian.screen(Array(seconds.prefix(5)), maximumDrawWatts: 1_000, now: Self.now, monotonicSeconds: 0)
        #expect(burst.accepted.count == 4 && burst.refused == [.tooFrequent: 1])
        #expect(guardian.screen([seconds[5]], maximumDrawWatts: 1_000, now: Self.now, monotonicSeconds: 5).refused == [.tooFrequent: 1])
        #expect(guardian.screen([seconds[5]], maximumDrawWatts: 1_000, now: Self.now, monotonicSeconds: 10).accepted == [seconds[5]])
    }

    @Test func theLedgerStoresEachSecondOnce() {
        let stored = [Self.minute(0), Self.minute(1)]
        #expect(EnergyLedgerMerge.outcome(of: Self.minute(1), stored: stored) == .alreadyStored)
        #expect(EnergyLedgerMerge.outcome(of: Self.minute(1, wattHours: 99), stored: stored) == .alreadyStored)
        #expect(EnergyLedgerMerge.outcome(of: Self.minute(2), stored: stored) == .insert)
        let straddling = EnergyMeter.Interval(start: Self.minute(0).start + 30, end: Self.minute(1).start + 30, wattHours: 1)
        #expect(EnergyLedgerMerge.outcome(of: straddling, stored: stored) == .overlapsStored)
        let inside = EnergyMeter.Interval(start: Self.minute(1).start, end: Self.minute(1).start + 10, wattHours: 1)
        #expect(EnergyLedgerMerge.outcome(of: inside, stored: stored) == .overlapsStored)
    }

    @Test func aHeartbeatFloodIsPaced() {
        var pacer = HeartbeatPacer(intervalSeconds: 1, ratePerInterval: 2, burst: 3)
        // An honest node: one a second, forever.
        #expect((0..<100).allSatisfy { pacer.admit(now: Double($0)) })
        var flood = HeartbeatPacer(intervalSeconds: 1, ratePerInterval: 2, burst: 3)
        let admitted = (0..<1_000).filter { flood.admit(now: Double($0) * 0.001) }.count
        // Three from the burst, two a second after: one second of flood reads five heartbeats at most.
        #expect(admitted <= 5)
    }
}
