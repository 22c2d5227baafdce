import Foundation
import HearthCore
import HearthGateway
import HearthNode
import HearthProtocol
import Testing

/// Issue 15: the host's monthly statement, from the energy ledger: energy by source and band, credit, grid events.
@Suite struct EnergyStatementTests {
    static let utc = TimeZone(identifier: "UTC")!

    static func record(_ iso: String, wattHours: Double, battery: Double? = nil, events: String? = nil) -> EnergyRecord {
        let start = ISO8601DateFormatter().date(from: iso)!
        return EnergyRecord(
            nodeID: NodeID("n"), homeID: "h", start: start, end: start.addingTimeInterval(60), wattHours: wattHours,
            batteryWattHours: battery, gridEvents: events)
    }

    static let records = [
        Self.record("2026-12-01T03:00:00Z", wattHours: 200),  // night, grid
        Self.record("2026-12-01T17:00:00Z", wattHours: 200, battery: 150, events: "dr-7"),  // peak, mostly battery
        Self.record("2026-12-01T17:01:00Z", wattHours: 100, battery: 100, events: "dr-7,=cmd"),
        Self.record("2026-12-15T10:00:00Z", wattHours: 400, battery: 0),  // day
        Self.record("2026-11-30T23:59:00Z", wattHours: 999),  // the month before: not in it
    ]

    @Test func itsSumsAreTheLedgersByBandSourceAndEvent() throws {
        let records = Self.records
        var bands = EnergyStatement.bands(flatRate: 0.2)
        bands[2].ratePerKilowattHour = 0.5  // peak
        let statement = EnergyStatement(
            home: "h", year: 2026, month: 12, records: records, bands: bands, timeZone: Self.utc, currency: "EUR")
        #expect(statement.intervals == 4)
        #expect(abs(statement.kilowattHours - 0.9) < 1e-9)
        #expect(abs(statement.batteryKilowattHours - 0.25) < 1e-9)
        #expect(abs(statement.gridKilowattHours - 0.65) < 1e-9)
        let peak = try #require(statement.bands.first { $0.band.name == "peak" })
        #expect(abs(peak.batteryKilowattHours - 0.25) < 1e-9 && abs(peak.gridKilowattHours - 0.05) < 1e-9)
        #expect(abs(statement.credit - (0.2 * 0.2 + 0.3 * 0.5 + 0.4 * 0.2)) < 1e-9)
        #expect(statement.days.count == 31)
        #expect(abs(statement.days[0].batteryKilowattHours - 0.25) < 1e-9 && abs(statement.days[14].gridKilowattHours - 0.4) < 1e-9)
        #expect(Set(statement.events.map(\.id)) == ["dr-7", "=cmd"])
        let dr = try #require(statement.events.first { $0.id == "dr-7" })
        #expect(abs(dr.batteryKilowattHours - 0.25) < 1e-9 && abs(dr.gridKilowattHours - 0.05) < 1e-9)

        let csv = statement.csv()
        let total = try #require(csv.split(separator: "\n").last { $0.hasPrefix("total,") })
        #expect(total == "total,h,,,0.650,0.250,,0.27")
        #expect(csv.contains("event,'=cmd,"), "an id a spreadsheet would run is defused")
        let html = statement.html()
        #expect(html.contains(#"<b id="total-kwh">0.900</b>"#) && html.contains("<svg") && !html.contains("<script"))
        #expect(statement.text().contains("credit: 0.27 EUR"))
    }

    @Test func theCommandPrintsItAsTextCSVAndHTML() async throws {
        let hearth = try ChildProcesses.built("hearth")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-statement-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteFleetStore(path: directory.appendingPathComponent("fleet.sqlite").path)
        #expect(try await store.recordEnergy(Self.records) == 5)
        let common = [
            "energy", "--home", "h", "--statement", "--month", "2026-12", "--tariff", "0.2", "--tariff-bands", "peak=0.5",
            "--currency", "EUR", "--time-zone", "UTC", "--data-dir", directory.path,
        ]
        let csv = try await OpenAIClientTests.run(hearth, common + ["--format", "csv"])
        #expect(csv.split(separator: "\n").last == "total,h,,,0.650,0.250,,0.27", "\(csv)")
        let html = try await OpenAIClientTests.run(hearth, common + ["--format", "html"])
        #expect(html.contains(#"<b id="credit">0.27</b> EUR"#))
        let text = try await OpenAIClientTests.run(hearth, common)
        #expect(text.contains("grid events answered: 2"))
        await #expect(throws: (any Error).self) {
            _ = try await OpenAIClientTests.run(
                hearth, ["energy", "--home", "h", "--statement", "--month", "2026-13", "--data-dir", directory.path])
        }
    }

    @Test func aBatteryNodesLedgerSplitsItsSourcesAndNamesTheEventItAnswered() async throws {
        // A 15 kWh battery; a site limit of 4 kW on a 3 kW home leaves 1 kW of grid for a node that wants 7: the battery
        // gives the rest, and every interval is tagged with the event.
        let node = PoweredNode.make(
            homeLoadWatts: 3_000, energyIntervalSeconds: 1, battery: NodeBattery.Configuration(kilowattHours: 15, kilowatts: 5))
        let engine = TestEngine { request, _, emit in for chunk in TestEngine.sse(words: ["ok"], request: request) { try await emit(chunk) }
        }
        try await withTestFleet(
            nodes: [TestNodeSpec(id: "node-b", engine: engine, power: node.controller)],
            configure: {
                $0.power.sites = [NodeID("node-b"): .init(homeID: "home-b")]
                $0.power.period = .milliseconds(100)
            }
        ) { fleet in
            let now = Date().timeIntervalSince1970
            fleet.gateway.power.setGridEvents([
                GridEvent(id: "dr-1#0", signal: .importCapacityLimit(kilowatts: 4), start: now - 1, duration: 600, offsetKey: "dr-1")
            ])
            let from = Date().addingTimeInterval(-60)
            var records: [EnergyRecord] = []
            for await _ in fleet.gateway.registry.powerReports() {
                records = try await fleet.gateway.store.energy(home: "home-b", from: from, to: Date().addingTimeInterval(60))
                if records.filter({ ($0.batteryWattHours ?? 0) > 0 }).count >= 3 { break }
            }
            let fromBattery = records.filter { ($0.batteryWattHours ?? 0) > 0 }
            #expect(fromBattery.allSatisfy { $0.gridEvents == "dr-1" }, "\(fromBattery.map(\.gridEvents))")
            #expect(fromBattery.allSatisfy { $0.batteryWattHours! <= $0.wattHours })
            // Once the cap holds (the first interval may straddle its arrival), the grid gives 1 kW and the battery the rest.
            #expect(
                fromBattery.dropFirst().allSatisfy { abs($0.gridWattHours - 1_000.0 / 3_600) < 0.03 },
                "\(fromBattery.map { ($0.wattHours, $0.batteryWattHours!) })")

            // The statement of this month from the same store: its sums are the ledger's.
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = Self.utc
            let parts = calendar.dateComponents([.year, .month], from: Date())
            let period = try #require(EnergyStatement.period(year: parts.year!, month: parts.month!, timeZone: Self.utc))
            let ledger = try await fleet.gateway.store.energy(home: "home-b", from: period.from, to: period.to)
            let statement = EnergyStatement(
                home: "home-b", year: parts.year!, month: parts.month!, records: ledger, bands: EnergyStatement.bands(flatRate: 0.3),
                timeZone: Self.utc, currency: "USD")
            #expect(abs(statement.kilowattHours - ledger.reduce(0) { $0 + $1.wattHours } / 1_000) < 1e-9)
            #expect(abs(statement.batteryKilowattHours - ledger.reduce(0) { $0 + ($1.batteryWattHours ?? 0) } / 1_000) < 1e-9)
            #expect(abs(statement.credit - statement.kilowattHours * 0.3) < 1e-9)
            #expect(statement.events.map(\.id) == ["dr-1"])
        }
    }
}
