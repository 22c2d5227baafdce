import ArgumentParser
import Foundation
import HearthGateway

/// `hearth energy`: what a home's node drew, per interval, from the gateway's fleet store (to credit the host).
struct EnergyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "energy",
        abstract: "Energy a home's node drew per interval, from the gateway's fleet store."
    )

    @Option(help: "The home's id (as in the gateway's sites file; a node without one is its own home).")
    var home: String

    @Option(help: "Start of the period: RFC 3339 (2026-11-27T00:00:00Z) or a date (2026-11-27).")
    var from: String

    @Option(help: "End of the period (exclusive), same formats.")
    var to: String

    @Option(help: "Folder of the gateway's fleet database (unless --store names a PostgreSQL one).")
    var dataDir: String = ".hearth"

    @OptionGroup var fleetStore: FleetStoreOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        guard let start = Self.date(from), let end = Self.date(to) else {
            throw ValidationError("--from and --to must be RFC 3339 datetimes or dates (YYYY-MM-DD)")
        }
        guard start < end else { throw ValidationError("--from must be before --to") }
        let path = dataDir + "/fleet.sqlite"
        guard fleetStore.store != nil || FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no fleet database at \(path)")
        }
        let records = try await fleetStore.withStore(sqlitePath: path, logger: FleetStoreOptions.quietLogger) {
            try await $0.energy(home: home, from: start, to: end)
        }
        let total = records.reduce(0) { $0 + $1.wattHours } / 1000
        let formatter = ISO8601DateFormatter()
        if json {
            let object: [String: Any] = [
                "home": home, "from": formatter.string(from: start), "to": formatter.string(from: end), "kwh": total,
                "intervals": records.map {
                    [
                        "node": $0.nodeID.rawValue, "start": formatter.string(from: $0.start), "end": formatter.string(from: $0.end),
                        "kwh": $0.wattHours / 1000,
                    ] as [String: Any]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("home \(home): \(String(format: "%.3f", total)) kWh in \(records.count) intervals")
        for record in records {
            print("\(formatter.string(from: record.start))  \(record.nodeID)  \(String(format: "%.4f", record.wattHours / 1000)) kWh")
        }
    }

    static func date(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }
}
