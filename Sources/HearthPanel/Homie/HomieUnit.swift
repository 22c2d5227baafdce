/// Conversion of Homie `unit` strings to SI base figures (watts, watt-hours, amps, volts, percent).
///
/// Homie 5.0 recommends `W`, `kW`, `Wh`, `kWh`, `A`, `V`, `%` among its units. SPAN's published schema uses
/// `W` and `kW` for power, `Wh` and `kWh` for energy, `A`, `V` and `%` (span-panel-api
/// `tests/fixtures/v2/homie_schema.json`, firmware spanos2/r202603/05). Unknown units are refused (nil), never
/// guessed, so a firmware change that publishes e.g. `mA` makes the figure unknown rather than wrong by 1000×.
enum HomieUnit {
    enum Quantity: Sendable {
        case power, energy, current, voltage, percent
    }

    /// The factor that turns a value in `unit` into SI for `quantity`; nil for a unit this client does not know.
    static func factor(_ unit: String, for quantity: Quantity) -> Double? {
        switch (quantity, unit) {
        case (.power, "W"): 1
        case (.power, "kW"), (.power, "KW"): 1_000
        case (.power, "MW"): 1_000_000
        case (.energy, "Wh"): 1
        case (.energy, "kWh"), (.energy, "KWh"): 1_000
        case (.energy, "MWh"): 1_000_000
        case (.current, "A"): 1
        case (.voltage, "V"): 1
        case (.percent, "%"): 1
        default: nil
        }
    }
}
