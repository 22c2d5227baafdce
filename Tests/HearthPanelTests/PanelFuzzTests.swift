import HearthCore
import Testing

@testable import HearthPanel

/// Seeded mutations of real SPAN topics and payloads.
struct PanelFuzzer {
    var serial: String
    var circuits: [String]

    func mutation(_ rng: inout SplitMix64, large: Bool = false) -> (topic: String, payload: [UInt8]) {
        let prefix = "ebus/5/\(serial)"
        let circuit = circuits.randomElement(using: &rng) ?? "13044bfbcbe5554b8f3dba126bce828f"
        let topics = [
            "$state", "$description", "upstream-lugs/active-power", "upstream-lugs/l1-current", "upstream-lugs/l2-current",
            "upstream-lugs/direction", "downstream-lugs/direction", "core/breaker-rating", "core/l1-voltage", "core/door",
            "\(circuit)/active-power", "\(circuit)/shed-priority", "\(circuit)/name", "bess-0/soc", "bess-0/soe",
            "pcs-0/requested-import-limit", "pcs-0/requested-import-limit-enablement", "ffffffffffffffffffffffffffffffff/active-power",
            "core", "core/door/set", "$nonsense", "UPPER/case", "a/b/c/d", "", "upstream-lugs/active-power/$target",
        ]
        let payloads: [String] = [
            "ready", "lost", "init", "disconnected", "sleeping", "READY", "", "0", "-0", "200", "-200", "13800", "1e400", "-1e400",
            "NaN", "nan", "inf", "-Infinity", "1e308", "4.9e-324", "9007199254740993", "abc", "{}", "[]", "null", "true",
            "{\"nodes\":{}}", "{\"homie\":\"5.0\",\"nodes\":{\"core\":{\"type\":7}}}", "UPSTREAM", "DOWNSTREAM", "OPEN", "CLOSED",
            "ENABLED", "NEVER", "OFF_GRID", "\u{0}\u{1}", "12.5.6", "--5", "+5", "5e", "0x1F", "١٢٣", "😀",
            String(repeating: "7", count: 300),
            SpanDeviceDescription.make(name: "f", version: 9, circuits: circuits, circuitPowerUnit: "kW", battery: true).json(),
            SpanDeviceDescription.make(name: "f", version: 9, circuits: [], circuitPowerUnit: "MW", battery: false).json(),
        ]
        let topicSuffix = topics[Int(rng.next() % UInt64(topics.count))]
        let topic = rng.next() % 20 == 0 ? "ebus/5/other/\(topicSuffix)" : "\(prefix)/\(topicSuffix)"
        var payload: [UInt8]
        switch rng.next() % 10 {
        case 0:
            payload = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 1:
            payload = Array(payloads[Int(rng.next() % UInt64(payloads.count))].utf8)
            if !payload.isEmpty { payload[Int(rng.next() % UInt64(payload.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
        case 2:
            payload = Array(String(Double(bitPattern: rng.next())).utf8)
        default:
            payload = Array(payloads[Int(rng.next() % UInt64(payloads.count))].utf8)
        }
        if large { payload = Array(repeating: UInt8(ascii: "1"), count: 70_000 + Int(rng.next() % 1_000)) }
        return (topic, payload)
    }
}

@Suite struct PanelFuzzTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func randomMutationsNeverCrashOrYieldImplausibleFigures(seed: UInt64) {
        var rng = SplitMix64(state: seed)
        var state = SpanPanelStateTests.readyState()
        let fuzz = PanelFuzzer(serial: SpanPanelStateTests.serial, circuits: [SpanPanelStateTests.circuit])
        var now = 1.0
        for i in 0..<300 {
            let (topic, payload) = fuzz.mutation(&rng)
            let tooLarge = i % 50 == 49
            state.handle(topic: topic, payload: tooLarge ? [] : payload, retained: rng.next() % 8 == 0, payloadTooLarge: tooLarge, at: now)
            now += Double(rng.next() % 1_000) / 1_000
            let snapshot = state.snapshot(at: now)
            expectPlausible(snapshot)
            // Never a stale value passed off as fresh: any mains figure shown dates from a live update.
            if snapshot.mainsActivePowerWatts != nil { #expect(snapshot.ageSeconds != nil) }
        }
        #expect(state.diagnostics.totalRejections > 0)
    }
}
