import HearthCore
import Testing

@testable import HearthPanel

@Suite struct PanelSnapshotTests {
    @Test func missingMainsIsUnknown() {
        let reading = PanelSnapshot(breakerRatingAmps: 200, l1Voltage: 120, ageSeconds: 0).reading(nodeDrawWatts: 0, at: 10)
        #expect(PowerBudget.compute(reading).isKnown == false)
    }

    @Test func importIncludesNodeDraw() {
        let snapshot = PanelSnapshot(mainsActivePowerWatts: 9_000, breakerRatingAmps: 200, l1Voltage: 120, ageSeconds: 0.5)
        let reading = snapshot.reading(nodeDrawWatts: 4_000, at: 10)
        #expect(reading.homeLoadWatts == 5_000)
        #expect(reading.at == 9.5)
    }
}
