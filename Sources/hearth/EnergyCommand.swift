import ArgumentParser
import Foundation
import HearthGateway

/// `hearth energy`: what a home's node drew, per interval, from the gateway's fleet store (to credit the host).
struct EnergyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "energy",
        abstract: "Energy a home's node drew per interval, or the host's monthly statement, from the gateway's fleet store."
    )

    @Option(help: "The home's id (as in the gateway's sites file; a node without one is its own home).")
    var home: String

    @Option(help: "Start of the period: RFC 3339 (2026-11-27T00:00:00Z) or a date (2026-11-27).")
    var from: String?

    @Option(help: "End of the period (exclusive), same formats.")
    var to: String?

    @Flag(help: "The host's monthly statement (with --month): energy by source and hour band, credit, grid events answered.")
    var statement = false

    @Option(help: "The statement's month, YYYY-MM.")
    var month: String?

    @Option(help: "The statement's format: text, csv or html (one page with a chart).")
    var format: StatementFormat = .text

    @Option(help: "The host's credit per kWh (one rate for every hour).")
    var tariff: Double = 0

    @Option(
        help: "Rates per band instead, e.g. night=0.12,day=0.25,peak=0.45,late=0.30 (bands: night 0–7, day 7–16, peak 16–21, late 21–24).")
    var tariffBands: String?

    @Option(help: "The credit's currency (ISO 4217).")
    var currency = "USD"

    @Option(help: "The time zone of the statement's month and bands (default: this machine's).")
    var timeZone: String?

    @Option(help: "Folder of the gateway's fleet database (unless --store names a PostgreSQL one).")
    var dataDir: String = ".hearth"

    @OptionGroup var fleetStore: FleetStoreOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    enum StatementFormat: String, ExpressibleByArgument, CaseIterable {
        case text, csv, html
    }

    func run() async throws {
        if statement { return try await printStatement() }
        guard let from, let to, let start = Self.date(from), let end = Self.date(to) else {
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

    private func printStatement() async throws {
        guard let month, let (year, number) = Self.month(month) else { throw ValidationError("--statement needs --month YYYY-MM") }
        guard let zone = timeZone.map(TimeZone.init(identifier:)) ?? TimeZone.current else {
            throw ValidationError("--time-zone: unknown time zone \(timeZone ?? "")")
        }
        guard tariff.isFinite, tariff >= 0, tariff < 100 else { throw ValidationError("--tariff must be 0–100") }
        guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw ValidationError("--currency must be an ISO 4217 code such as USD")
        }
        var bands = EnergyStatement.bands(flatRate: tariff)
        if let tariffBands {
            for part in tariffBands.split(separator: ",") {
                let pair = part.split(separator: "=")
                guard pair.count == 2, let rate = Double(pair[1]), rate.isFinite, rate >= 0, rate < 100,
                    let index = bands.firstIndex(where: { $0.name == pair[0] })
                else { throw ValidationError("--tariff-bands: '\(part)' is not BAND=RATE with a band of night, day, peak, late") }
                bands[index].ratePerKilowattHour = rate
            }
        }
        guard let period = EnergyStatement.period(year: year, month: number, timeZone: zone) else {
            throw ValidationError("--month: no such month \(month)")
        }
        let path = dataDir + "/fleet.sqlite"
        guard fleetStore.store != nil || FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no fleet database at \(path)")
        }
        let records = try await fleetStore.withStore(sqlitePath: path, logger: FleetStoreOptions.quietLogger) {
            try await $0.energy(home: home, from: period.from, to: period.to)
        }
        let statement = EnergyStatement(
            home: home, year: year, month: number, records: records, bands: bands, timeZone: zone, currency: currency)
        switch format {
        case .text: print(statement.text(), terminator: "")
        case .csv: print(statement.csv(), terminator: "")
        case .html: print(statement.html(), terminator: "")
        }
    }

    /// `YYYY-MM`.
    static func month(_ text: String) -> (Int, Int)? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let year = Int(parts[0]), let month = Int(parts[1]),
            (1...12).contains(month)
        else { return nil }
        return (year, month)
    }

    static func date(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }
}
