/// The SPAN properties Hearth reads, what they hold, and the ranges a real panel can publish.
///
/// Names, datatypes and default units follow the panel's published schema (span-panel-api
/// `tests/fixtures/v2/homie_schema.json`, firmware spanos2/r202603/05): lugs `active-power` float W,
/// `l1-current`/`l2-current` float A; core `breaker-rating` integer A, `l1-voltage` float V, `door` enum
/// `UNKNOWN,OPEN,CLOSED`; circuit `name` string, `active-power` float (declared kW), `shed-priority` enum
/// `UNKNOWN,OFF_GRID,SOC_THRESHOLD,NEVER`; bess `soc` float %, `soe` float kWh; pcs `requested-import-limit`
/// float A and `requested-import-limit-enablement` enum `UNSPECIFIED,UNCONFIGURED,DISABLED,ENABLED`.
/// A unit declared in `$description` overrides these defaults. Ranges are Hearth's plausibility limits
/// (a residential service is at most a few hundred amps; 300 kW bounds a 1,200 A service at 240 V).
struct SpanProperty: Sendable {
    enum Kind: Sendable {
        /// A measured number converted to SI with `quantity`'s units, checked against `range` after conversion.
        case number(HomieUnit.Quantity, defaultUnit: String, range: ClosedRange<Double>, integer: Bool)
        /// The pcs import limit: amps or (if the panel declares a power unit) watts.
        case importLimit
        /// One of a set of upper-case tokens (the `$description` `format` wins when present).
        case enumeration(defaults: [String])
        /// A human-readable name.
        case name
    }

    var kind: Kind

    static let maximumWatts = 300_000.0
    static let maximumAmps = 2_000.0

    static func spec(role: SpanNodeRole, property: String) -> SpanProperty? {
        let power = SpanProperty(kind: .number(.power, defaultUnit: "W", range: -maximumWatts...maximumWatts, integer: false))
        let legCurrent = SpanProperty(kind: .number(.current, defaultUnit: "A", range: -maximumAmps...maximumAmps, integer: false))
        let direction = SpanProperty(kind: .enumeration(defaults: ["UPSTREAM", "DOWNSTREAM"]))
        switch (role, property) {
        case (.upstreamLugs, "active-power"): return power
        case (.upstreamLugs, "l1-current"), (.upstreamLugs, "l2-current"): return legCurrent
        case (.upstreamLugs, "direction"), (.downstreamLugs, "direction"), (.lugs, "direction"): return direction
        case (.core, "breaker-rating"):
            return SpanProperty(kind: .number(.current, defaultUnit: "A", range: 1...maximumAmps, integer: true))
        case (.core, "l1-voltage"): return SpanProperty(kind: .number(.voltage, defaultUnit: "V", range: 60...300, integer: false))
        case (.core, "door"): return SpanProperty(kind: .enumeration(defaults: ["UNKNOWN", "OPEN", "CLOSED"]))
        // Undeclared circuit power is taken as W: see README ("circuit active-power unit").
        case (.circuit, "active-power"): return power
        case (.circuit, "shed-priority"):
            return SpanProperty(kind: .enumeration(defaults: ["UNKNOWN", "OFF_GRID", "SOC_THRESHOLD", "NEVER"]))
        case (.circuit, "name"): return SpanProperty(kind: .name)
        case (.battery, "soc"): return SpanProperty(kind: .number(.percent, defaultUnit: "%", range: 0...100, integer: false))
        case (.battery, "soe"): return SpanProperty(kind: .number(.energy, defaultUnit: "kWh", range: 0...10_000_000, integer: false))
        case (.powerControl, "requested-import-limit"): return SpanProperty(kind: .importLimit)
        case (.powerControl, "requested-import-limit-enablement"):
            return SpanProperty(kind: .enumeration(defaults: ["UNSPECIFIED", "UNCONFIGURED", "DISABLED", "ENABLED"]))
        default: return nil
        }
    }
}

/// A property value after validation and conversion to SI.
enum SpanValue: Sendable, Hashable {
    case number(Double)
    /// The import limit in amps (the schema's unit) or watts (a declared power unit).
    case limit(amps: Double?, watts: Double?)
    case text(String)

    var number: Double? {
        if case .number(let n) = self { return n }
        return nil
    }

    var text: String? {
        if case .text(let t) = self { return t }
        return nil
    }
}
