internal import Foundation

/// OpenADR 3.1 resource shapes that Hearth reads (`program`, `event`) and writes (`report`).
///
/// Follows the OpenADR 3.1.0 specification's OpenAPI component schemas (OpenADR Alliance, "OpenADR 3.1.0
/// Specification", 2024; field names as in `openadr3.yaml`, checked against the 3.1.1 schema examples):
/// `event.intervals[].intervalPeriod{start, duration, randomizeStart}`, `payloads[{type, values}]`
/// (a *valuesMap*), `targets` (in 3.1 an array of strings; 3.0.x used valuesMaps `[{type, values}]`,
/// which are also accepted when decoding), and `report.resources[].intervals[].payloads`. Durations are
/// ISO 8601 (`PT1H`; `P9999Y` means open-ended), datetimes RFC 3339 (`0001-01-01` means "now").
/// Unknown fields are ignored; only what Hearth needs is modelled. The HTTP VEN client lives in the gateway.
public enum OpenADR {
    /// `valuesMap`: a type name and its values.
    public struct ValuesMap: Sendable, Hashable, Codable {
        public var type: String
        public var values: [Value]

        public init(type: String, values: [Value]) {
            self.type = type
            self.values = values
        }
    }

    /// One value in a valuesMap: number, string, boolean or point.
    public enum Value: Sendable, Hashable, Codable {
        case number(Double)
        case string(String)
        case bool(Bool)
        case point(x: Double, y: Double)

        struct Point: Codable { var x: Double; var y: Double }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let d = try? c.decode(Double.self) {
                self = .number(d)
            } else if let s = try? c.decode(String.self) {
                self = .string(s)
            } else {
                let p = try c.decode(Point.self)
                self = .point(x: p.x, y: p.y)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .number(let d): try c.encode(d)
            case .string(let s): try c.encode(s)
            case .bool(let b): try c.encode(b)
            case .point(let x, let y): try c.encode(Point(x: x, y: y))
            }
        }

        public var number: Double? {
            if case .number(let d) = self { return d }
            return nil
        }
    }

    /// `intervalPeriod`: start (RFC 3339), duration and randomizeStart (ISO 8601 durations).
    public struct IntervalPeriod: Sendable, Hashable, Codable {
        /// Nil in an interval's own period: it inherits the event's start (the specification allows it).
        public var start: String?
        public var duration: String?
        public var randomizeStart: String?

        public init(start: String?, duration: String? = nil, randomizeStart: String? = nil) {
            self.start = start
            self.duration = duration
            self.randomizeStart = randomizeStart
        }
    }

    /// `interval`: an id, an optional period overriding the event's, and payloads.
    public struct Interval: Sendable, Hashable, Codable {
        public var id: Int
        public var intervalPeriod: IntervalPeriod?
        public var payloads: [ValuesMap]

        public init(id: Int, intervalPeriod: IntervalPeriod? = nil, payloads: [ValuesMap]) {
            self.id = id
            self.intervalPeriod = intervalPeriod
            self.payloads = payloads
        }
    }

    /// Targets: 3.1 strings; 3.0.x valuesMaps are flattened to their string values when decoding.
    public struct Targets: Sendable, Hashable, Codable {
        public var values: [String]

        public init(_ values: [String]) { self.values = values }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let strings = try? c.decode([String].self) {
                values = strings
            } else {
                let maps = try c.decode([ValuesMap].self)
                values = maps.flatMap { map in
                    map.values.compactMap { value -> String? in
                        switch value {
                        case .string(let s): s
                        case .number(let d): d.rounded() == d ? String(Int(d)) : String(d)
                        default: nil
                        }
                    }
                }
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(values)
        }
    }

    /// `eventPayloadDescriptor` / `reportPayloadDescriptor` (the fields Hearth uses).
    public struct PayloadDescriptor: Sendable, Hashable, Codable {
        public var objectType: String?
        public var payloadType: String
        public var readingType: String?
        public var units: String?

        public init(objectType: String? = nil, payloadType: String, readingType: String? = nil, units: String? = nil) {
            self.objectType = objectType
            self.payloadType = payloadType
            self.readingType = readingType
            self.units = units
        }
    }

    /// `reportDescriptor`: a reading the VTN asks for (the fields Hearth uses). `targets` narrows the resources reported.
    public struct ReportDescriptor: Sendable, Hashable, Codable {
        public var payloadType: String
        public var readingType: String?
        public var units: String?
        public var targets: Targets?

        public init(payloadType: String, readingType: String? = nil, units: String? = nil, targets: Targets? = nil) {
            self.payloadType = payloadType
            self.readingType = readingType
            self.units = units
            self.targets = targets
        }
    }

    /// `program` (the fields Hearth uses).
    public struct Program: Sendable, Hashable, Codable {
        public var id: String?
        public var objectType: String?
        public var programName: String
        public var intervalPeriod: IntervalPeriod?
        public var payloadDescriptors: [PayloadDescriptor]?
        public var targets: Targets?

        public init(
            id: String? = nil, programName: String, intervalPeriod: IntervalPeriod? = nil, payloadDescriptors: [PayloadDescriptor]? = nil,
            targets: Targets? = nil
        ) {
            self.id = id
            self.objectType = "PROGRAM"
            self.programName = programName
            self.intervalPeriod = intervalPeriod
            self.payloadDescriptors = payloadDescriptors
            self.targets = targets
        }
    }

    /// `event`.
    public struct Event: Sendable, Hashable, Codable {
        public var id: String?
        public var objectType: String?
        public var programID: String
        public var eventName: String?
        public var priority: Int?
        public var targets: Targets?
        public var payloadDescriptors: [PayloadDescriptor]?
        /// The readings the VTN asks VENs to report for this event.
        public var reportDescriptors: [ReportDescriptor]?
        public var intervalPeriod: IntervalPeriod?
        /// The event's own duration (ISO 8601): what an interval lasts when neither it nor the event's period says.
        public var duration: String?
        public var intervals: [Interval]

        public init(
            id: String? = nil, programID: String, eventName: String? = nil, priority: Int? = nil, targets: Targets? = nil,
            payloadDescriptors: [PayloadDescriptor]? = nil, reportDescriptors: [ReportDescriptor]? = nil,
            intervalPeriod: IntervalPeriod? = nil, duration: String? = nil, intervals: [Interval]
        ) {
            self.id = id
            self.objectType = "EVENT"
            self.programID = programID
            self.eventName = eventName
            self.priority = priority
            self.targets = targets
            self.payloadDescriptors = payloadDescriptors
            self.reportDescriptors = reportDescriptors
            self.intervalPeriod = intervalPeriod
            self.duration = duration
            self.intervals = intervals
        }

        private enum CodingKeys: String, CodingKey {
            case id, objectType, programID, eventName, priority, targets, payloadDescriptors, reportDescriptors, intervalPeriod
            case duration, intervals
        }

        /// An event without `intervals` (the specification allows it) decodes with none.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decodeIfPresent(String.self, forKey: .id)
            objectType = try c.decodeIfPresent(String.self, forKey: .objectType)
            programID = try c.decode(String.self, forKey: .programID)
            eventName = try c.decodeIfPresent(String.self, forKey: .eventName)
            priority = try c.decodeIfPresent(Int.self, forKey: .priority)
            targets = try c.decodeIfPresent(Targets.self, forKey: .targets)
            payloadDescriptors = try c.decodeIfPresent([PayloadDescriptor].self, forKey: .payloadDescriptors)
            reportDescriptors = try c.decodeIfPresent([ReportDescriptor].self, forKey: .reportDescriptors)
            intervalPeriod = try c.decodeIfPresent(IntervalPeriod.self, forKey: .intervalPeriod)
            duration = try c.decodeIfPresent(String.self, forKey: .duration)
            intervals = try c.decodeIfPresent([Interval].self, forKey: .intervals) ?? []
        }
    }

    /// One element of a list a VTN sent: the element, or why it could not be read, so that one malformed or unknown
    /// object never hides the others.
    public struct Lossy<Element: Decodable & Sendable>: Decodable, Sendable {
        public var element: Element?
        public var problem: String?

        public init(from decoder: any Decoder) throws {
            do {
                element = try Element(from: decoder)
            } catch {
                element = nil
                problem = "\(error)"
            }
        }
    }

    /// `report.resources[]`.
    public struct ReportResource: Sendable, Hashable, Codable {
        public var resourceName: String
        public var intervalPeriod: IntervalPeriod?
        public var intervals: [Interval]

        public init(resourceName: String, intervalPeriod: IntervalPeriod? = nil, intervals: [Interval]) {
            self.resourceName = resourceName
            self.intervalPeriod = intervalPeriod
            self.intervals = intervals
        }
    }

    /// `report` (as a VEN posts it to `/reports`). 3.1 reports name their event, not its program: `programID` is sent
    /// only when set (a 3.0 VTN requires it).
    public struct Report: Sendable, Hashable, Codable {
        public var id: String?
        public var objectType: String?
        public var programID: String?
        public var eventID: String
        public var clientName: String
        public var reportName: String?
        public var payloadDescriptors: [PayloadDescriptor]?
        public var resources: [ReportResource]

        public init(
            programID: String? = nil, eventID: String, clientName: String, reportName: String? = nil,
            payloadDescriptors: [PayloadDescriptor]? = nil, resources: [ReportResource]
        ) {
            self.objectType = "REPORT"
            self.programID = programID
            self.eventID = eventID
            self.clientName = clientName
            self.reportName = reportName
            self.payloadDescriptors = payloadDescriptors
            self.resources = resources
        }
    }
}

extension OpenADR {
    /// Payload types Hearth acts on.
    public static let importCapacityLimit = "IMPORT_CAPACITY_LIMIT"
    public static let simple = "SIMPLE"

    /// Seconds in an ISO 8601 duration (`PnYnMnWnDTnHnMnS`; a year is 365 days, a month 30). `P9999Y` and
    /// longer are `.infinity` (OpenADR's "open-ended"). Nil when malformed.
    public static func seconds(iso8601Duration text: String) -> Double? {
        var s = Substring(text.uppercased())
        var sign = 1.0
        if s.first == "-" { sign = -1; s = s.dropFirst() }
        guard s.first == "P" else { return nil }
        s = s.dropFirst()
        var total = 0.0
        var inTime = false
        var number = ""
        var sawUnit = false
        for ch in s {
            if ch == "T" { guard number.isEmpty, !inTime else { return nil }; inTime = true; continue }
            if ch.isNumber || ch == "." || ch == "," { number.append(ch == "," ? "." : ch); continue }
            guard let value = Double(number) else { return nil }
            number = ""
            sawUnit = true
            switch (ch, inTime) {
            case ("Y", false):
                if value >= 9999 { return .infinity }
                total += value * 365 * 86_400
            case ("M", false): total += value * 30 * 86_400
            case ("W", false): total += value * 7 * 86_400
            case ("D", false): total += value * 86_400
            case ("H", true): total += value * 3_600
            case ("M", true): total += value * 60
            case ("S", true): total += value
            default: return nil
            }
        }
        guard number.isEmpty, sawUnit else { return nil }
        return sign * total
    }

    /// Unix seconds of an RFC 3339 date-time in any valid spelling (`T`/`t`, `Z`/`z` or an offset, with or without
    /// fractional seconds); `0001-01-01…` ("now") returns `now`. Nil for anything else: a bare date or a malformed
    /// time is refused, never read as midnight.
    public static func unixSeconds(rfc3339 text: String, now: Double) -> Double? {
        if text.hasPrefix("0001-01-01") { return now }
        // RFC 3339 allows lower-case `t` and `z`; the formatter wants them upper-case (nothing else is a letter).
        let upper = text.uppercased()
        guard upper.count >= 20, upper.contains("T") else { return nil }
        let plain = ISO8601DateFormatter()
        if let d = plain.date(from: upper) { return d.timeIntervalSince1970 }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: upper)?.timeIntervalSince1970
    }

    /// The grid events Hearth acts on in `event`: one per interval carrying `IMPORT_CAPACITY_LIMIT` or `SIMPLE`
    /// (``readGridEvents(from:now:)`` without the refusals).
    public static func gridEvents(from event: Event, now: Double, venTargets: Set<String> = []) -> [GridEvent] {
        readGridEvents(from: event, now: now, venTargets: venTargets).events
    }

    /// The grid events Hearth acts on in `event`, and what it refused, in words for the log.
    ///
    /// - An interval's period fills what it leaves out from the event's (start, duration, randomizeStart). An interval
    ///   without a start of its own follows the event's, the n-th starting n × duration after it (the
    ///   specification's sequential intervals).
    /// - Times are RFC 3339 date-times (``unixSeconds(rfc3339:now:)``); an interval whose start cannot be read is
    ///   refused, never read as midnight.
    /// - A value that is not a number is refused, never read as 0 kW or as a level. `IMPORT_CAPACITY_LIMIT` is in the
    ///   units its `payloadDescriptors` give: `KW` (the default), `W`, or `A` (at a 240 V split-phase service);
    ///   other units are refused.
    /// - Every interval of one event shares its nodes' randomized start offsets (``GridEvent/offsetKey``), so
    ///   back-to-back intervals leave no gap.
    /// - Targeting: an event without targets, or naming one of `venTargets` (the VEN itself: its name, the targets its
    ///   VTN gave it, the operator's VEN-wide targets), applies to every node; otherwise to the nodes its targets name
    ///   (a node's id, home, transformer or group).
    /// - Durations: the interval's, else the event period's, else the event's own `duration`, else open-ended.
    public static func readGridEvents(from event: Event, now: Double, venTargets: Set<String> = []) -> (
        events: [GridEvent], refused: [String]
    ) {
        let eventID = event.id ?? event.eventName ?? "event"
        let named = event.targets?.values ?? []
        let targets = named.contains(where: venTargets.contains) ? [] : named
        var result: [GridEvent] = []
        var refused: [String] = []
        let capacityUnits = event.payloadDescriptors?.first { $0.payloadType == importCapacityLimit }?.units?.uppercased() ?? "KW"
        for (index, interval) in event.intervals.enumerated() {
            let own = interval.intervalPeriod
            let shared = event.intervalPeriod
            guard let startText = own?.start ?? shared?.start else {
                refused.append("event \(eventID) interval \(interval.id) has no start, nor has its event")
                continue
            }
            guard let start = unixSeconds(rfc3339: startText, now: now) else {
                refused.append("event \(eventID) interval \(interval.id): start \(startText.prefix(40)) is not an RFC 3339 date-time")
                continue
            }
            let durationText = own?.duration ?? shared?.duration ?? event.duration
            guard let duration = durationText.map({ seconds(iso8601Duration: $0) }) ?? .infinity, duration > 0 else {
                refused.append("event \(eventID) interval \(interval.id): duration \(durationText?.prefix(40) ?? "") is not usable")
                continue
            }
            // Sequential intervals: those that follow the event's start take their place in the row.
            let shift = own?.start == nil ? Double(index) * (duration.isFinite ? duration : 0) : 0
            let randomize = (own?.randomizeStart ?? shared?.randomizeStart).flatMap { seconds(iso8601Duration: $0) } ?? 0
            for payload in interval.payloads {
                let signal: GridEvent.Signal
                switch payload.type {
                case importCapacityLimit:
                    guard let value = payload.values.first?.number, value.isFinite, value >= 0 else {
                        refused.append("event \(eventID) interval \(interval.id): IMPORT_CAPACITY_LIMIT is not a number")
                        continue
                    }
                    let kilowatts: Double
                    switch capacityUnits {
                    case "KW": kilowatts = value
                    case "W": kilowatts = value / 1_000
                    case "A": kilowatts = value * 240 / 1_000
                    default:
                        refused.append(
                            "event \(eventID): IMPORT_CAPACITY_LIMIT in \(capacityUnits.prefix(16)), which Hearth cannot convert")
                        continue
                    }
                    signal = .importCapacityLimit(kilowatts: kilowatts)
                case simple:
                    guard let value = payload.values.first?.number, value.isFinite, value.rounded() == value else {
                        refused.append("event \(eventID) interval \(interval.id): SIMPLE is not a whole number")
                        continue
                    }
                    signal = .simple(level: Int(value))
                default:
                    continue
                }
                result.append(
                    GridEvent(
                        id: "\(eventID)#\(interval.id)", programID: event.programID, signal: signal, start: start + shift,
                        duration: duration, randomizeStart: randomize.isFinite ? randomize : 0, targets: targets, offsetKey: eventID))
            }
        }
        return (result, refused)
    }
}
