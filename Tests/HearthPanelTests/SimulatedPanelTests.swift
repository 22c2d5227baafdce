import HearthCore
import HearthSim
import Testing

@testable import HearthPanel

@Suite struct SimulatedPanelTests {
    @Test func mainsIsHomePlusLoadsPlusNode() {
        let time = SimulatedTime(12 * 3600)
        let panel = SimulatedPanel(configuration: .init(homeType: .gasWithEV, seed: 7)) { time.now }
        let home = panel.homeLoadWatts(atSecond: time.now)
        #expect(home > 0)
        #expect(panel.snapshot().mainsActivePowerWatts == home)

        panel.setNodeDraw(watts: 4_000)
        let ev = panel.addLoad(name: "EV charger", watts: 48 * 240)
        let s = panel.snapshot()
        #expect(s.mainsActivePowerWatts == home + 11_520 + 4_000)
        #expect(s.l1CurrentAmps == s.mainsActivePowerWatts! / 240)
        #expect(s.breakerRatingAmps == 200)
        #expect(s.circuits.contains { $0.name == "EV charger" && $0.activePowerWatts == -11_520 })
        #expect(s.circuits.contains { $0.id == "hearth-node" && $0.activePowerWatts == -4_000 })
        // The governor sees the home and the EV, not the node itself.
        #expect(s.reading(nodeDrawWatts: 4_000, at: 0).homeLoadWatts == home + 11_520)

        panel.removeLoad(ev)
        #expect(panel.snapshot().mainsActivePowerWatts == home + 4_000)
    }

    @Test func followsTheDayAndSpikesEnd() {
        let time = SimulatedTime(0)
        let panel = SimulatedPanel(configuration: .init(homeType: .allElectric, seed: 3)) { time.now }
        let day = HomeLoadProfile.day(.allElectric, seed: 3)
        for second in [0, 3_600, 50_000, 86_399] {
            time.set(Double(second))
            #expect(panel.snapshot().mainsActivePowerWatts == Double(day[second]))
        }
        time.set(86_400 + 10)  // wraps at midnight
        #expect(panel.snapshot().mainsActivePowerWatts == Double(day[10]))

        time.set(100)
        panel.addLoad(name: "spike", watts: 9_000, forSeconds: 2)
        #expect(panel.snapshot().mainsActivePowerWatts == Double(day[100]) + 9_000)
        time.set(102)
        #expect(panel.snapshot().mainsActivePowerWatts == Double(day[102]))
    }

    @Test func extrasAndBattery() {
        let panel = SimulatedPanel(configuration: .init(homeType: .apartment, battery: (50, 13_500))) { 0 }
        panel.setExtraLoad(watts: 2_000)
        panel.setRequestedImportLimit(watts: 9_600)
        panel.setDoorOpen(true)
        let s = panel.snapshot()
        #expect(s.breakerRatingAmps == 100)
        #expect(s.batteryStateOfEnergyWattHours == 6_750)
        #expect(s.requestedImportLimitWatts == 9_600)
        #expect(s.doorOpen == true)
        #expect(s.ageSeconds == 0)
        #expect(s.circuits.contains { $0.name == "Extra load" })
        panel.setExtraLoad(watts: 0)
        #expect(!panel.snapshot().circuits.contains { $0.name == "Extra load" })
    }
}
