import Foundation

/// A home's own electrical load for one day at 1 s resolution, generated deterministically from a seed.
///
/// Appliance models (watts are typical nameplate figures for North American homes; on/off patterns are
/// simplified duty cycles, not measured traces):
/// - always-on base 150–500 W with a slow random walk; refrigerator 150 W cycling ~20 min on / 40 min off;
/// - central AC / heat pump 3–5 kW in 10–20 min compressor cycles, duty following the hour of day
///   (afternoon and evening highest), with a 1 s inrush at twice running power at each start;
/// - electric resistance backup ("strip") heat 5–8 kW on cold mornings (all-electric homes);
/// - electric water heater 4.5 kW element, morning and evening runs of 15–40 min;
/// - electric range: oven 3 kW element cycling 50 % on a 2 min period for 45–75 min around dinner, plus a
///   2 kW cooktop burner for 15–25 min;
/// - electric dryer 5.5 kW element cycling (on 90 s, off 30 s: the "dryer spikes") for 50–70 min;
/// - EV charging at 7.2 kW (30 A), 9.6 kW (40 A) or 11.5 kW (48 A) from arrival (16:30–20:30) until the
///   day's need of 8–40 kWh is in, wrapping past midnight.
/// All-electric homes reach undiversified peaks of about 16–20 kW when strip heat, water heater, range,
/// dryer and (for the EV variant) the charger overlap.
public enum HomeType: String, Sendable, CaseIterable, Codable {
    /// Apartment / small home, 100 A service, gas heat and cooking, window AC 1.2 kW.
    case apartment
    /// Suburban home, 200 A, gas heat, water and dryer; central AC 3.5 kW, electric range.
    case gasSuburban = "gas-suburban"
    /// Gas suburban home with a 48 A (11.5 kW) EV charger.
    case gasWithEV = "gas-ev"
    /// All-electric home, 200 A: heat pump 4.5 kW with 5–8 kW strip heat, water heater, range, dryer.
    case allElectric = "all-electric"
    /// All-electric home with an EV charger (7.2–11.5 kW).
    case allElectricEV = "all-electric-ev"

    /// Main breaker rating, amps.
    public var serviceAmps: Double { self == .apartment ? 100 : 200 }

    /// Diversified design demand a utility assumes when sizing the transformer, kVA.
    public var designKVA: Double {
        switch self {
        case .apartment: 2.5
        case .gasSuburban: 4
        case .gasWithEV: 6
        case .allElectric: 7
        case .allElectricEV: 9
        }
    }

    /// Share of each type in a generated neighbourhood.
    public static let mix: [(HomeType, Double)] = [
        (.apartment, 0.15), (.gasSuburban, 0.35), (.gasWithEV, 0.15), (.allElectric, 0.2), (.allElectricEV, 0.15),
    ]
}

public enum HomeLoadProfile {
    public static let secondsPerDay = 86_400

    /// The home's load in watts for each second of one day.
    public static func day(_ type: HomeType, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed ^ 0x4F4D_4553)
        var w = [Float](repeating: 0, count: secondsPerDay)
        func add(_ start: Int, _ length: Int, _ watts: Double) {
            guard length > 0 else { return }
            let value = Float(watts)
            var s = ((start % secondsPerDay) + secondsPerDay) % secondsPerDay
            var left = min(length, secondsPerDay)
            while left > 0 {
                let run = min(left, secondsPerDay - s)
                for i in s..<(s + run) { w[i] += value }
                left -= run
                s = 0
            }
        }
        func cycling(_ start: Int, _ length: Int, on: Int, off: Int, _ watts: Double) {
            var t = start
            while t < start + length {
                add(t, min(on, start + length - t), watts)
                t += on + off
            }
        }
        func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * rng.unit() }
        func hour(_ h: Double) -> Int { Int(h * 3600) }

        // Base load: a random walk per minute around 150–500 W.
        var base = uniform(150, 500)
        let mean = base
        for minute in 0..<1440 {
            base = max(100, base + 20 * rng.normal() + 0.05 * (mean - base))
            add(minute * 60, 60, base)
        }
        // Refrigerator.
        cycling(Int(uniform(0, 3600)) - 3600, secondsPerDay + 3600, on: 1200, off: 2400, 150)

        // HVAC: compressor cycles with an hourly duty.
        let hvacWatts: Double
        switch type {
        case .apartment: hvacWatts = 1_200
        case .gasSuburban, .gasWithEV: hvacWatts = 3_500
        case .allElectric, .allElectricEV: hvacWatts = 4_500
        }
        var t = 0
        while t < secondsPerDay {
            let h = Double(t) / 3600
            let duty = 0.15 + 0.55 * max(0, Foundation.cos((h - 17) / 24 * 2 * .pi))
            let on = Int(uniform(600, 1200))
            if rng.unit() < duty {
                add(t, 1, hvacWatts)  // inrush: 2× for one second
                add(t, on, hvacWatts)
            }
            t += on + Int(uniform(300, 900))
        }
        let allElectric = type == .allElectric || type == .allElectricEV
        if allElectric {
            // Strip heat on cold mornings, water heater morning and evening.
            if rng.unit() < 0.6 { cycling(hour(uniform(5.5, 7.5)), Int(uniform(1800, 5400)), on: 600, off: 300, uniform(5_000, 8_000)) }
            add(hour(uniform(6, 8)), Int(uniform(900, 2400)), 4_500)
            add(hour(uniform(18, 22)), Int(uniform(900, 2400)), 4_500)
        }
        if type != .apartment {
            // Electric range around dinner.
            if rng.unit() < 0.8 {
                let dinner = hour(uniform(16.5, 19))
                cycling(dinner, Int(uniform(2700, 4500)), on: 60, off: 60, 3_000)
                add(dinner + Int(uniform(600, 1800)), Int(uniform(900, 1500)), 2_000)
            }
            // Dryer: gas homes' dryers draw ~0.5 kW (motor); electric 5.5 kW element cycling.
            if rng.unit() < 0.5 {
                let start = hour(uniform(9, 21))
                let length = Int(uniform(3000, 4200))
                add(start, length, 400)
                if allElectric { cycling(start, length, on: 90, off: 30, 5_100) }
            }
        }
        if type == .gasWithEV || type == .allElectricEV, rng.unit() < 0.8 {
            let rate = type == .gasWithEV ? 11_500 : [7_200, 9_600, 11_500][Int(rng.next() % 3)]
            let need = uniform(8, 40) * 1000  // Wh
            add(hour(uniform(16.5, 20.5)), Int(need / Double(rate) * 3600), Double(rate))
        }
        return w
    }

    /// Per-step maxima of a 1 s day profile (the worst second of each step), `step` seconds per step.
    public static func stepMaxima(_ day: [Float], step: Int) -> [Float] {
        let step = max(1, step)
        var out = [Float](repeating: 0, count: (day.count + step - 1) / step)
        day.withUnsafeBufferPointer { p in
            for k in out.indices {
                var m: Float = 0
                for i in (k * step)..<min(day.count, (k + 1) * step) where p[i] > m { m = p[i] }
                out[k] = m
            }
        }
        return out
    }
}
