import Foundation
import HearthCore
import HearthSim
import Testing

@Suite struct HomeLoadProfileTests {
    @Test func deterministicAndPlausible() {
        let a = HomeLoadProfile.day(.allElectricEV, seed: 7)
        let b = HomeLoadProfile.day(.allElectricEV, seed: 7)
        #expect(a == b)
        #expect(a.count == 86_400)
        #expect(a.allSatisfy { $0 >= 100 })
        let c = HomeLoadProfile.day(.allElectricEV, seed: 8)
        #expect(a != c)
    }

    @Test func allElectricPeaksAreUndiversifiedSixteenToTwentyKilowatts() {
        // Over a month of days, the typical daily peak of an all-electric home with EV lands in 16–20 kW and
        // an apartment stays far below.
        var peaks: [Float] = []
        for day in 0..<30 { peaks.append(HomeLoadProfile.day(.allElectricEV, seed: UInt64(day)).max()!) }
        peaks.sort()
        let median = peaks[peaks.count / 2]
        #expect(median >= 14_000 && median <= 22_000, "daily peaks \(peaks)")
        #expect(peaks.last! <= 32_000)
        let apartment = HomeLoadProfile.day(.apartment, seed: 1).max()!
        #expect(apartment < 6_000)
    }

    @Test func stepMaximaKeepTheWorstSecond() {
        var day = [Float](repeating: 100, count: 86_400)
        day[61] = 9_000
        let steps = HomeLoadProfile.stepMaxima(day, step: 60)
        #expect(steps.count == 1440)
        #expect(steps[1] == 9_000 && steps[0] == 100)
    }
}

@Suite struct PowerSimulationTests {
    static func trace() -> Trace {
        Trace(
            path: "generated", format: .generated, generatedFrom: "test",
            requests: TraceGenerator(statistics: TraceGenerator.azureConversation).generate(count: 2_000, seed: 3))
    }

    static func small(seed: UInt64 = 1, nodeWatts: Double = 6_000) -> PowerReport {
        PowerSimulation(
            configuration: PowerSimulation.Configuration(
                homes: 60, transformers: 6, days: 2, seed: seed, stepSeconds: 60, nodeFullWatts: nodeWatts),
            trace: trace()
        ).run()
    }

    @Test func zeroViolationsAndEveryEventMet() {
        for watts in [6_000.0, 19_200] {
            let r = Self.small(nodeWatts: watts)
            #expect(r.home_limit_violations == 0)
            #expect(r.transformer_limit_violations == 0)
            #expect(r.dr_events > 0)
            #expect(r.dr_events_met == r.dr_events)
            #expect(r.node_hours_available_share > 0.3)
            #expect(r.energy_kwh_per_home > 0)
            #expect(r.slo_attainment >= 0 && r.slo_attainment <= 1)
        }
    }

    /// Issue 15: the node as built, 16 GPUs and a 15 kWh battery. Every limit holds, every grid event is met, the fleet
    /// cuts its grid import by at least a quarter for each event's whole duration, and the battery keeps nodes at
    /// full power more often than they would be without it.
    @Test func theNodeAsBuiltWithItsBatteryMeetsEveryEventAndRunsFullMoreOften() {
        var configuration = PowerSimulation.Configuration(homes: 60, transformers: 6, days: 2, seed: 1, stepSeconds: 60)
        configuration.useNodeAsBuilt()
        configuration.sloReplays = false
        let r = PowerSimulation(configuration: configuration, trace: Self.trace()).run()
        #expect(r.node_full_kw == 12.5 && r.battery_kwh == 15)
        #expect(r.home_limit_violations == 0)
        #expect(r.transformer_limit_violations == 0)
        #expect(r.dr_events > 0 && r.dr_events_met == r.dr_events)
        #expect(r.dr_min_import_reduction >= 0.25, "sustained reduction \(r.dr_min_import_reduction)")
        #expect(r.battery_cycles_per_day > 0 && r.battery_cycles_per_day < 3)
        #expect(r.full_power_share > r.full_power_share_without_battery, "\(r.full_power_share) vs \(r.full_power_share_without_battery)")

        // Without a battery the two shares are one figure, and the reduction is still sustained (by caps).
        configuration.battery = nil
        let plain = PowerSimulation(configuration: configuration, trace: Self.trace()).run()
        #expect(plain.battery_kwh == 0 && plain.battery_cycles_per_day == 0)
        #expect(plain.full_power_share == plain.full_power_share_without_battery)
        #expect(abs(plain.full_power_share - r.full_power_share_without_battery) < 1e-9, "the comparison run is this run")
        #expect(plain.dr_events_met == plain.dr_events)
    }

    @Test func deterministic() {
        #expect(Self.small(seed: 4) == Self.small(seed: 4))
        #expect(Self.small(seed: 4).energy_kwh_per_home != Self.small(seed: 5).energy_kwh_per_home)
    }

    @Test func oneSecondStepsAlsoHold() {
        let r = PowerSimulation(
            configuration: PowerSimulation.Configuration(
                homes: 10, transformers: 2, days: 1, seed: 2, stepSeconds: 1, nodeFullWatts: 19_200),
            trace: Self.trace()
        ).run()
        #expect(r.home_limit_violations == 0)
        #expect(r.transformer_limit_violations == 0)
        #expect(r.dr_events_met == r.dr_events)
    }
}

/// Figures for docs/BENCHMARKS.md ## Power. Off by default; run with
/// `HEARTH_POWER_FIGURES=1 HEARTH_CORE_ONLY=1 swift test --scratch-path .build-core -c release --filter PowerFigures`.
/// Optional: HEARTH_POWER_HOMES, HEARTH_POWER_TRANSFORMERS, HEARTH_POWER_DAYS, HEARTH_POWER_NODE_KW, HEARTH_POWER_TRACE, HEARTH_POWER_SEED.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_POWER_FIGURES"] == "1")) struct PowerFigures {
    @Test func week() throws {
        let env = ProcessInfo.processInfo.environment
        let path = env["HEARTH_POWER_TRACE"] ?? "/work/shared/traces/AzureLLMInferenceTrace_conv.csv"
        let seed = UInt64(env["HEARTH_POWER_SEED"] ?? "") ?? 1
        let trace = try TraceGenerator.readOrGenerate(path: path, seed: seed)
        for kw in (env["HEARTH_POWER_NODE_KW"] ?? "6").split(separator: ",").compactMap({ Double($0) }) {
            let configuration = PowerSimulation.Configuration(
                homes: Int(env["HEARTH_POWER_HOMES"] ?? "") ?? 1000, transformers: Int(env["HEARTH_POWER_TRANSFORMERS"] ?? "") ?? 100,
                days: Int(env["HEARTH_POWER_DAYS"] ?? "") ?? 7, seed: seed, nodeFullWatts: kw * 1000)
            let start = Date()
            let report = PowerSimulation(configuration: configuration, trace: trace).run()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            print("wall \(Date().timeIntervalSince(start)) s")
        }
    }
}
