/// Validates one raw property payload against its ``SpanProperty`` and the device's `$description`.
struct SpanValueInterpreter: Sendable {
    /// See ``SpanPanelState/Options/circuitKilowattsAreWatts``.
    var circuitKilowattsAreWatts: Bool

    struct Failure: Error, Sendable {
        var kind: PanelRejection.Kind
        var detail: String
    }

    func interpret(
        _ raw: String, spec: SpanProperty, role: SpanNodeRole, property: String, declared: HomieDescription.Property?
    ) -> Result<SpanValue, Failure> {
        switch spec.kind {
        case .number(let quantity, let defaultUnit, let range, let integer):
            if let datatype = declared?.datatype, datatype != "float", datatype != "integer" {
                return .failure(Failure(kind: .unexpectedValue, detail: "declared datatype \(datatype.prefix(16)) is not numeric"))
            }
            var unit = declared?.unit ?? defaultUnit
            if role == .circuit, property == "active-power", circuitKilowattsAreWatts, unit == "kW" { unit = "W" }
            guard let factor = HomieUnit.factor(unit, for: quantity) else {
                return .failure(Failure(kind: .unsupportedUnit, detail: "unit \(unit.prefix(16)) is not convertible"))
            }
            return number(raw, integer: integer).flatMap { value in
                let si = value * factor
                guard range.contains(si) else {
                    return .failure(Failure(kind: .outOfRange, detail: "\(si) outside \(range.lowerBound)…\(range.upperBound)"))
                }
                return .success(.number(si))
            }
        case .importLimit:
            let unit = declared?.unit ?? "A"
            let watts = HomieUnit.factor(unit, for: .power)
            guard unit == "A" || watts != nil else {
                return .failure(Failure(kind: .unsupportedUnit, detail: "unit \(unit.prefix(16)) is not convertible"))
            }
            return number(raw, integer: false).flatMap { value in
                if let watts {
                    let w = value * watts
                    guard (0...SpanProperty.maximumWatts).contains(w) else { return .failure(Failure(kind: .outOfRange, detail: "\(w) W")) }
                    return .success(.limit(amps: nil, watts: w))
                }
                guard (0...SpanProperty.maximumAmps).contains(value) else {
                    return .failure(Failure(kind: .outOfRange, detail: "\(value) A"))
                }
                return .success(.limit(amps: value, watts: nil))
            }
        case .enumeration(let defaults):
            let allowed = declared?.format.map { $0.split(separator: ",").map(String.init) } ?? defaults
            guard raw.utf8.count <= 64, allowed.contains(raw) else {
                return .failure(Failure(kind: .unexpectedValue, detail: "\(Self.quote(raw)) is not one of \(allowed.prefix(12))"))
            }
            return .success(.text(raw))
        case .name:
            guard raw.count <= 128, !raw.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                return .failure(Failure(kind: .unexpectedValue, detail: "name \(Self.quote(raw)) is too long or has control characters"))
            }
            return .success(.text(raw))
        }
    }

    private func number(_ raw: String, integer: Bool) -> Result<Double, Failure> {
        HomieNumber.parse(raw, integer: integer).mapError { failure in
            Failure(kind: failure.kind, detail: "\(Self.quote(raw)) is not a Homie \(integer ? "integer" : "float")")
        }
    }

    /// A short, printable excerpt of a payload for log lines.
    static func quote(_ raw: String) -> String {
        let cleaned = String(raw.unicodeScalars.prefix(24).map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return "\"\(cleaned)\(raw.unicodeScalars.count > 24 ? "…" : "")\""
    }
}
