import Foundation
import HearthCore
import Testing

@Suite struct PowerGovernorTests {
    /// A 200 A home; node: 1.2 kW host + 18 kW GPUs (min 5.4 kW), idle 2.2 kW.
    static let configuration = PowerGovernor.Configuration()

    static func reading(_ homeWatts: Double?, at t: Double, rating: Double = 200) -> PowerGovernor.Event {
        .panelReading(PanelReading(homeLoadWatts: homeWatts, breakerRatingAmps: rating, voltage: 240, at: t))
    }

    /// Runs readings once a second from 0 to `until` with home load `load(t)`; returns the governor.
    static func warmed(load: Double = 3_000, until: Double = 40) -> PowerGovernor {
        var g = PowerGovernor(configuration: configuration)
        var t = 0.0
        while t <= until {
            _ = g.handle(reading(load, at: t), now: t)
            t += 1
        }
        return g
    }

    @Test func startsDrainingAndOpensAfterHold() {
        var g = PowerGovernor(configuration: Self.configuration)
        #expect(g.mode == .draining)
        let first = g.handle(Self.reading(3_000, at: 0), now: 0)
        #expect(first.isEmpty)
        _ = g.handle(Self.reading(3_000, at: 29), now: 29)
        #expect(g.mode == .draining)
        let open = g.handle(Self.reading(3_000, at: 30), now: 30)
        #expect(g.mode == .normal)
        #expect(open.contains(.resumeAdmissions))
        #expect(open.contains(.setGPUPowerLimit(watts: 18_000)))
    }

    @Test func evChargerStartCapsWithinOneSecondAndHomeStaysUnderLimit() {
        // Home at 20 kW (busy all-electric evening); node at full 19.2 kW would fit: 38.4 − 20 − 0.48 = 17.92 kW → capped.
        var g = Self.warmed(load: 20_000)
        #expect(g.mode == .capped)
        let limit = 0.8 * 200 * 240.0
        #expect(20_000 + g.allowedDrawWatts <= limit)
        // EV starts at t = 41: +48 A = +11.52 kW.
        let ev = 48 * 240.0
        let actions = g.handle(Self.reading(20_000 + ev, at: 41), now: 41)
        guard case .setGPUPowerLimit(let watts)? = actions.first else {
            Issue.record("expected a new GPU limit at once, got \(actions)")
            return
        }
        #expect(watts < 18_000)
        #expect(20_000 + ev + g.allowedDrawWatts <= limit)
        // Every following second with the EV charging the home stays under its continuous limit.
        for t in 42...200 {
            _ = g.handle(Self.reading(20_000 + ev, at: Double(t)), now: Double(t))
            #expect(20_000 + ev + g.allowedDrawWatts <= limit)
        }
    }

    @Test func spikeLeavingNoHeadroomDrainsAndHandsBack() {
        var g = Self.warmed()
        #expect(g.mode == .normal)
        // 37 kW of home load on 38.4 kW continuous: less than the node's 2.2 kW idle floor → off.
        let actions = g.handle(Self.reading(36_500, at: 41), now: 41)
        #expect(g.mode == .off)
        #expect(actions.contains(.drain(handBackInFlight: true)))
        #expect(actions.contains(.pauseAdmissions))
        #expect(actions.contains(.powerDown))
        // A spike leaving room only for idle (38.4 − 32 − 0.48 = 5.92 kW < 6.6 kW floor): draining, in-flight
        // handed back, not powered down.
        var h = Self.warmed()
        let drain = h.handle(Self.reading(32_000, at: 41), now: 41)
        #expect(h.mode == .draining)
        #expect(drain == [.setGPUPowerLimit(watts: 5_400), .pauseAdmissions, .drain(handBackInFlight: true)])
        #expect(32_000 + h.allowedDrawWatts <= 38_400)
    }

    @Test func hysteresisPreventsFlapping() {
        var g = Self.warmed()
        // Home load oscillates every second around the level where the node is exactly at full draw.
        let edge = 38_400 - 480 - 19_200.0  // 18,720 W
        var modes: [PowerGovernor.Mode] = []
        var limitChangesUp = 0
        var last = g.gpuLimitWatts
        for t in 41...400 {
            let load = edge + (t % 2 == 0 ? 300 : -300)
            _ = g.handle(Self.reading(load, at: Double(t)), now: Double(t))
            modes.append(g.mode)
            if g.gpuLimitWatts > last { limitChangesUp += 1 }
            last = g.gpuLimitWatts
        }
        #expect(limitChangesUp == 0)
        #expect(Set(modes.dropFirst()) == [.capped])
        // Once the load stays low for the hold period, capacity returns — once.
        for t in 401...440 { _ = g.handle(Self.reading(10_000, at: Double(t)), now: Double(t)) }
        #expect(g.mode == .normal)
    }

    @Test func restoreWaitsForTheWholeHold() {
        var g = Self.warmed()
        _ = g.handle(Self.reading(33_000, at: 41), now: 41)
        #expect(!g.mode.isAdmitting)
        for t in 42...70 { _ = g.handle(Self.reading(3_000, at: Double(t)), now: Double(t)) }
        #expect(!g.mode.isAdmitting)
        // A dip inside the hold restarts it.
        _ = g.handle(Self.reading(33_000, at: 71), now: 71)
        for t in 72...100 { _ = g.handle(Self.reading(3_000, at: Double(t)), now: Double(t)) }
        #expect(!g.mode.isAdmitting)
        let back = g.handle(Self.reading(3_000, at: 102), now: 102)
        #expect(g.mode == .normal)
        #expect(back.contains(.resumeAdmissions))
    }

    @Test func staleAndMalformedReadingsFailSafe() {
        var g = Self.warmed()
        // No reading for 3 s: a tick notices and drains.
        let stale = g.handle(.tick, now: 43.6)
        #expect(g.mode == .draining)
        #expect(stale.contains(.drain(handBackInFlight: true)))
        for bad in [Double.nan, -.infinity, .infinity, -5] {
            var h = Self.warmed()
            _ = h.handle(Self.reading(bad, at: 41), now: 41)
            #expect(h.mode == .draining, "home load \(bad)")
        }
        var h = Self.warmed()
        _ = h.handle(Self.reading(3_000, at: 41, rating: 0), now: 41)
        #expect(h.mode == .draining)
        var v = Self.warmed()
        _ = v.handle(.panelReading(PanelReading(homeLoadWatts: 3_000, breakerRatingAmps: 200, voltage: .nan, at: 41)), now: 41)
        #expect(v.mode == .draining)
        var missing = Self.warmed()
        _ = missing.handle(Self.reading(nil, at: 41), now: 41)
        #expect(missing.mode == .draining)
    }

    @Test func gridCapShedsAtOnceAndRestoresAfter() {
        var g = Self.warmed()
        let shed = g.handle(.gridCap(watts: 0), now: 41)
        #expect(g.mode == .off)
        #expect(shed.contains(.powerDown))
        #expect(g.allowedDrawWatts == 0)
        let moderate = 9_000.0
        var h = Self.warmed()
        _ = h.handle(.gridCap(watts: moderate), now: 41)
        #expect(h.mode == .capped)
        #expect(h.allowedDrawWatts <= moderate)
        _ = g.handle(.gridCap(watts: nil), now: 100)
        // The first hold ends in draining (the readings were stale when the cap lifted), the second in normal.
        for t in 100...165 { _ = g.handle(Self.reading(3_000, at: Double(t)), now: Double(t)) }
        #expect(g.mode == .normal)
    }

    @Test func transformerBudgetBinds() {
        var g = Self.warmed()
        let actions = g.handle(.budgetChange(watts: 7_000), now: 41)
        #expect(g.mode == .capped)
        #expect(actions == [.setGPUPowerLimit(watts: 5_800)])
        #expect(g.allowedDrawWatts == 7_000)
        #expect(g.status(now: 41).budgetWatts == 7_000)
    }
}

@Suite struct PowerBudgetTests {
    @Test func formula() {
        // 200 A: 0.8 × 200 − 20 A home − 2 A margin = 138 A → capped at 80 A = 19.2 kW.
        #expect(PowerBudget.compute(homeLoadWatts: 4_800).watts == 19_200)
        // Busy home 30 kW = 125 A: 160 − 125 − 2 = 33 A.
        let busy = PowerBudget.compute(homeLoadWatts: 30_000)
        #expect(abs(busy.amps - 33) < 1e-9)
        #expect(abs(busy.watts - 7_920) < 1e-6)
        #expect(PowerBudget.compute(homeLoadWatts: 40_000).watts == 0)
        #expect(!PowerBudget.compute(homeLoadWatts: .nan).isKnown)
    }

    @Test func spanSignConventionAndLegs() {
        // Mains import 12 kW includes the node's 5 kW; circuits read negative for loads.
        let r = PanelReading.fromPanel(
            mainsActivePowerWatts: 12_000, l1CurrentAmps: 60, l2CurrentAmps: 40, voltage: 240, breakerRatingAmps: 200, nodeDrawWatts: 5_000,
            at: 0)
        #expect(r.homeLoadWatts == 7_000)
        #expect(abs(r.homeLegCurrentAmps! - (60 - 5_000 / 240.0)) < 1e-9)
        #expect(PanelSign.circuitLoadWatts(fromPanelActivePower: -1_500) == 1_500)
        // Exporting solar does not count as headroom.
        let solar = PanelReading.fromPanel(mainsActivePowerWatts: -4_000, voltage: 240, breakerRatingAmps: 200, nodeDrawWatts: 0, at: 0)
        #expect(solar.homeLoadWatts == 0)
        // The unbalanced leg binds: 60 A − 20.8 A on the worse leg vs 7 kW / 240 = 29.2 A.
        let budget = PowerBudget.compute(r)
        #expect(abs(budget.amps - min(80, 160 - (60 - 5_000 / 240.0) - 2)) < 1e-9)
    }
}
