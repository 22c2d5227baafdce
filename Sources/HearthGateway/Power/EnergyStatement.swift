public import Foundation

/// A host's monthly statement, computed from the energy ledger alone (pure): the node's energy by source (grid,
/// battery) and by band of local hours, the credit at the operator's tariff, and the grid events the node answered.
///
/// Credit: each interval's energy, grid and battery alike, at the rate of the band its start falls in (the battery
/// was charged from the host's supply; its losses are not in the ledger and are not credited).
public struct EnergyStatement: Sendable {
    /// A band of local hours `[startHour, endHour)` and the tariff's rate for it, per kWh.
    public struct Band: Sendable, Hashable {
        public var name: String
        public var startHour: Int
        public var endHour: Int
        public var ratePerKilowattHour: Double

        public init(name: String, startHour: Int, endHour: Int, ratePerKilowattHour: Double) {
            self.name = name
            self.startHour = startHour
            self.endHour = endHour
            self.ratePerKilowattHour = ratePerKilowattHour
        }
    }

    /// The night, day, evening peak and late evening: the bands most time-of-use tariffs draw.
    public static func bands(flatRate: Double) -> [Band] {
        [
            Band(name: "night", startHour: 0, endHour: 7, ratePerKilowattHour: flatRate),
            Band(name: "day", startHour: 7, endHour: 16, ratePerKilowattHour: flatRate),
            Band(name: "peak", startHour: 16, endHour: 21, ratePerKilowattHour: flatRate),
            Band(name: "late", startHour: 21, endHour: 24, ratePerKilowattHour: flatRate),
        ]
    }

    /// One band's figures.
    public struct BandTotal: Sendable, Hashable {
        public var band: Band
        public var gridKilowattHours = 0.0
        public var batteryKilowattHours = 0.0
        public var credit = 0.0
        public var kilowattHours: Double { gridKilowattHours + batteryKilowattHours }
    }

    /// One day's energy (local calendar), for the chart.
    public struct Day: Sendable, Hashable {
        public var day: Int
        public var gridKilowattHours = 0.0
        public var batteryKilowattHours = 0.0
    }

    /// A grid event the node answered: when it bound the node (the intervals it touched) and what the node drew then.
    public struct AnsweredEvent: Sendable, Hashable {
        public var id: String
        public var first: Date
        public var last: Date
        public var gridKilowattHours = 0.0
        public var batteryKilowattHours = 0.0
    }

    public let home: String
    public let year: Int
    public let month: Int
    public let timeZone: TimeZone
    public let currency: String
    public private(set) var bands: [BandTotal]
    public private(set) var days: [Day]
    public private(set) var events: [AnsweredEvent] = []
    public private(set) var intervals = 0

    public var gridKilowattHours: Double { bands.reduce(0) { $0 + $1.gridKilowattHours } }
    public var batteryKilowattHours: Double { bands.reduce(0) { $0 + $1.batteryKilowattHours } }
    public var kilowattHours: Double { gridKilowattHours + batteryKilowattHours }
    public var credit: Double { bands.reduce(0) { $0 + $1.credit } }

    /// The month's bounds in `timeZone`: what to read from the ledger.
    public static func period(year: Int, month: Int, timeZone: TimeZone) -> (from: Date, to: Date)? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        guard (1...12).contains(month), (2000...9999).contains(year),
            let from = calendar.date(from: DateComponents(year: year, month: month, day: 1)),
            let to = calendar.date(byAdding: .month, value: 1, to: from)
        else { return nil }
        return (from, to)
    }

    /// `bands` must cover the day's 24 hours once each.
    public init(
        home: String, year: Int, month: Int, records: [EnergyRecord], bands: [Band], timeZone: TimeZone, currency: String
    ) {
        self.home = home
        self.year = year
        self.month = month
        self.timeZone = timeZone
        self.currency = currency
        self.bands = bands.map { BandTotal(band: $0) }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let first = Self.period(year: year, month: month, timeZone: timeZone)?.from ?? Date(timeIntervalSince1970: 0)
        let count = calendar.range(of: .day, in: .month, for: first)?.count ?? 31
        days = (1...count).map { Day(day: $0) }
        var answered: [String: AnsweredEvent] = [:]
        for record in records {
            let parts = calendar.dateComponents([.year, .month, .day, .hour], from: record.start)
            guard parts.year == year, parts.month == month, let day = parts.day, let hour = parts.hour else { continue }
            intervals += 1
            let grid = record.gridWattHours / 1_000
            let battery = (record.wattHours / 1_000) - grid
            if let b = self.bands.firstIndex(where: { ($0.band.startHour..<$0.band.endHour).contains(hour) }) {
                self.bands[b].gridKilowattHours += grid
                self.bands[b].batteryKilowattHours += battery
                self.bands[b].credit += (grid + battery) * self.bands[b].band.ratePerKilowattHour
            }
            if days.indices.contains(day - 1) {
                days[day - 1].gridKilowattHours += grid
                days[day - 1].batteryKilowattHours += battery
            }
            for id in (record.gridEvents ?? "").split(separator: ",").map(String.init) where !id.isEmpty {
                var event = answered[id] ?? AnsweredEvent(id: id, first: record.start, last: record.end)
                event.first = min(event.first, record.start)
                event.last = max(event.last, record.end)
                event.gridKilowattHours += grid
                event.batteryKilowattHours += battery
                answered[id] = event
            }
        }
        events = answered.values.sorted { ($0.first, $0.id) < ($1.first, $1.id) }
    }
}
