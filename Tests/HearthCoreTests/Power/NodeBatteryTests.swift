import HearthCore
import Testing

/// Issue 15: the node as built carries a 15 kWh battery. The governor runs the node from grid and battery: a spike is
/// covered by the battery, caps come only when it reaches its reserve, it recharges from spare headroom (to full in
/// cheap hours), and a grid event is met by the battery first.
@Suite struct NodeBatteryTests {
    /// A 16-GPU node: 2.5 kW host, 16 × 600 W GPUs (300 W minimum each), 3 kW idle: 12.1 kW at full power.
    static let node = PowerGovernor.Configuration(
        hostWatts: 2_500, gpuMaxWatts: 9_600, gpuMinWatts: 4_800, idleWatts: 3_000, battery: NodeBattery.Configuration())
    /// A 200 A service: 80 % continuous is 38.4 kW.
    static let continuousLimit = 38_400.0

    static func reading(_ home: Double, at t: Double) -> PowerGovernor.Event {
        .panelReading(PanelReading(homeLoadWatts: home, breakerRatingAmps: 200, voltage: 240, at: t))
    }

    /// Feeds a reading each second from `from` to `to` with the home at `home` watts, checking on every second that
    /// the home and the node's import stay under the service's continuous limit and the battery above its reserve.
    @discardableResult
    static func run(_ g: inout PowerGovernor, home: Double, from: Double, to: Double) -> [PowerGovernor.Action] {
        var actions: [PowerGovernor.Action] = []
        var t = from
        while t <= to {
            actions += g.handle(reading(home, at: t), now: t)
            #expect(home + g.gridImportWatts <= continuousLimit + 1e-6, "at \(t) s: home \(home) W + import \(g.gridImportWatts) W")
            #expect((g.battery?.stateOfCharge ?? 1) >= 0.2 - 1e-9, "below the reserve at \(t) s")
            t += 1
        }
        return actions
    }

    static func warmed(stateOfCharge: Double = 1) -> PowerGovernor {
        var g = PowerGovernor(configuration: node, batteryStateOfCharge: stateOfCharge)
        run(&g, home: 3_000, from: 0, to: 40)
        #expect(g.mode == .normal)
        return g
    }

    @Test func aSpikeIsCoveredByTheBatteryAndCapsComeOnlyAtTheReserve() {
        var g = Self.warmed()
        // 30 kW in the home leaves 7.92 kW of grid for the node: without a battery it would be capped at once.
        let spike = Self.run(&g, home: 30_000, from: 41, to: 60)
        #expect(spike.isEmpty, "no cap while the battery covers the gap: \(spike)")
        #expect(g.mode == .normal)
        let status = g.status(now: 60)
        #expect(abs((status.batteryWatts ?? 0) - (12_100 - 7_920)) < 1)
        #expect(abs((status.gridImportWatts ?? 0) - 7_920) < 1)

        // 12 kWh above the reserve at 4.18 kW (4.41 kW from the cells): about 2 h 43 min, then caps.
        let later = Self.run(&g, home: 30_000, from: 61, to: 11_000)
        guard case .setGPUPowerLimit(let watts)? = later.first else {
            Issue.record("expected a cap once the battery reached its reserve, got \(later)")
            return
        }
        #expect(abs(watts - (7_920 - 2_500)) < 1, "capped to the grid's share alone")
        #expect(g.mode == .capped)
        #expect(g.battery?.mayDischarge == false)
        #expect(abs((g.battery?.stateOfCharge ?? 0) - 0.2) < 0.001)
        let without = PowerGovernor(
            configuration: PowerGovernor.Configuration(hostWatts: 2_500, gpuMaxWatts: 9_600, gpuMinWatts: 4_800, idleWatts: 3_000))
        #expect(without.battery == nil && without.status(now: 0).batteryStateOfCharge == nil, "no battery: as before")
    }

    @Test func itRechargesFromSpareHeadroomWithHysteresisAndToFullInCheapHours() {
        var g = Self.warmed(stateOfCharge: 0.2)
        #expect(g.battery?.mayDischarge == false, "at its reserve it gives nothing")
        // The home at 3 kW leaves the node its 19.2 kW cap; at 12.1 kW it leaves 7.1 kW, of which the battery takes 5 kW.
        Self.run(&g, home: 3_000, from: 41, to: 100)
        #expect(g.status(now: 100).batteryWatts == -5_000)
        #expect(g.gridImportWatts == 17_100)

        // Outside cheap hours it stops at 60 % and starts again only under 55 %.
        Self.run(&g, home: 3_000, from: 101, to: 6_000)
        #expect(abs((g.battery?.stateOfCharge ?? 0) - 0.6) < 0.001)
        #expect(g.battery?.flowWatts == 0)
        #expect(g.battery?.mayDischarge == true, "back above the reserve and its band")
        // A short spike takes a little (under the band): no charging again after it.
        Self.run(&g, home: 30_000, from: 6_001, to: 6_020)
        Self.run(&g, home: 3_000, from: 6_021, to: 6_100)
        #expect((g.battery?.stateOfCharge ?? 0) > 0.55 && (g.battery?.stateOfCharge ?? 0) < 0.6)
        #expect(g.battery?.flowWatts == 0, "within the band: no recharge yet")

        // A cheap hour: to full.
        _ = g.handle(.cheapHour(true), now: 6_101)
        Self.run(&g, home: 3_000, from: 6_102, to: 6_200)
        #expect(g.battery?.flowWatts == -5_000)
        Self.run(&g, home: 3_000, from: 6_201, to: 12_000)
        #expect(abs((g.battery?.stateOfCharge ?? 0) - 1) < 0.001)
        #expect(g.battery?.flowWatts == 0)
        #expect((g.battery?.cycles ?? 0) > 0)
    }

    @Test func aGridEventIsMetByTheBatteryFirstThenByCaps() {
        var g = Self.warmed()
        // The grid sheds the node entirely: it runs on its battery, importing nothing.
        let shed = g.handle(.gridCap(watts: 0), now: 41)
        #expect(shed == [.setGPUPowerLimit(watts: 10_000 - 2_500)], "capped to what the battery gives: \(shed)")
        var t = 42.0
        var actions: [PowerGovernor.Action] = []
        while g.mode != .off, t < 10_000 {
            actions += g.handle(Self.reading(3_000, at: t), now: t)
            #expect(g.gridImportWatts == 0 || g.mode == .off, "imported \(g.gridImportWatts) W during the event at \(t) s")
            t += 1
        }
        // 12 kWh above the reserve at 10 kW (10.5 kW from the cells): about 1 h 8 min on the battery.
        #expect(t > 4_000 && t < 4_300, "ran \(t) s on the battery")
        #expect(actions.contains(.powerDown))
        #expect(g.battery?.mayDischarge == false)
        // The event ends: back to the grid.
        _ = g.handle(.gridCap(watts: nil), now: t)
        Self.run(&g, home: 3_000, from: t + 1, to: t + 40)
        #expect(g.mode == .normal)
    }

    /// Issue 15: the host's controls (Home Assistant) cap the node's whole draw, battery included, or pause it.
    @Test func theHostsLimitCapsTheWholeDrawAndAPauseTurnsTheNodeOff() {
        var g = Self.warmed()
        let capped = g.handle(.hostLimit(watts: 8_000), now: 41)
        #expect(capped == [.setGPUPowerLimit(watts: 8_000 - 2_500)])
        #expect(g.allowedDrawWatts == 8_000)
        #expect(g.battery?.flowWatts == 0, "full battery: nothing to charge")
        let paused = g.handle(.hostLimit(watts: 0), now: 42)
        #expect(g.mode == .off && paused.contains(.powerDown) && paused.contains(.pauseAdmissions))
        #expect(g.battery?.flowWatts == 0, "a paused node neither takes from its battery nor charges it from the home")
        _ = g.handle(.hostLimit(watts: nil), now: 43)
        Self.run(&g, home: 3_000, from: 44, to: 120)
        #expect(g.mode == .normal)
        _ = g.handle(.hostLimit(watts: -.infinity), now: 121)
        #expect(g.mode == .off, "a hostile limit counts as a pause, never as none")
    }

    @Test func theBatteryNeverGivesBelowItsReserveOrTakesPastItsTarget() {
        var battery = NodeBattery(
            configuration: .init(capacityWattHours: 1_000, maxChargeWatts: 500, maxDischargeWatts: 1_000), stateOfCharge: 0.5)
        battery.advance(to: 0)
        battery.setFlow(5_000)
        #expect(battery.flowWatts == 1_000, "clamped to the discharge limit")
        battery.advance(to: 7_200)  // far longer than it can give
        #expect(abs(battery.stateOfCharge - 0.2) < 1e-9)
        #expect(battery.flowWatts == 0 && !battery.mayDischarge)
        battery.setFlow(-2_000)
        #expect(battery.flowWatts == -500, "clamped to the charge limit")
        battery.advance(to: 14_400)
        #expect(abs(battery.stateOfCharge - 0.6) < 1e-9, "stops at its target outside cheap hours")
        battery.setFlow(.nan)
        #expect(battery.flowWatts == 0)
        let hostile = NodeBattery.Configuration(
            capacityWattHours: -.infinity, maxChargeWatts: .nan, maxDischargeWatts: -5, roundTripEfficiency: 7, reserveFraction: 3)
        #expect(hostile.capacityWattHours == 0 && hostile.maxChargeWatts == 0 && hostile.maxDischargeWatts == 0)
        #expect(hostile.roundTripEfficiency == 1 && hostile.reserveFraction == 1)
    }
}
