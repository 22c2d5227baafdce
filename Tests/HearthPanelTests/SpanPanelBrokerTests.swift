import HearthCore
import MosquittoTestSupport
import Synchronization
import Testing

@testable import HearthPanel

/// Simulated panel → publisher → real mosquitto → SpanPanel. Waits are on events; timeouts only guard failures.
@Suite(.mosquittoBroker(), .timeLimit(.minutes(2)))
struct SpanPanelBrokerTests {
    var broker: MosquittoBroker { MosquittoBroker.current! }

    @Test(arguments: ["kW", "W"])
    func publishedFiguresArriveInSIWithSPANSigns(circuitPowerUnit: String) async throws {
        let serial = "sim-values-\(circuitPowerUnit.lowercased())"
        let device = try await SimulatedDevice(broker, serial: serial, circuitPowerUnit: circuitPowerUnit)
        defer { device.client.close() }
        device.panel.setNodeDraw(watts: 4_000)
        let panel = makePanel(broker, serial: serial)
        let snapshot = try await withRunning(panel) {
            try await device.publisher.publish()
            return try await panel.waitForSnapshot { $0.mainsActivePowerWatts != nil }
        }
        let expected = device.panel.snapshot()
        #expect(abs(snapshot.mainsActivePowerWatts! - expected.mainsActivePowerWatts!) <= 0.05)
        #expect(abs(snapshot.l1CurrentAmps! - expected.l1CurrentAmps!) <= 0.0005)
        #expect(snapshot.breakerRatingAmps == 200)
        #expect(snapshot.l1Voltage == 120)
        #expect(snapshot.doorOpen == false)
        #expect(snapshot.batteryStateOfChargePercent == 80)
        #expect(snapshot.batteryStateOfEnergyWattHours == 10_800)
        #expect(snapshot.requestedImportLimitWatts == nil)  // published as DISABLED
        #expect(snapshot.ageSeconds == 0)
        #expect(snapshot.circuits.count == expected.circuits.count)
        for circuit in expected.circuits {
            let got = try #require(snapshot.circuits.first { $0.id == SpanPanelPublisher.nodeID(forCircuit: circuit.id) })
            #expect(got.name == circuit.name)
            #expect(got.shedPriority == circuit.shedPriority)
            #expect(abs(got.activePowerWatts! - circuit.activePowerWatts!) <= 0.05)
            #expect(got.activePowerWatts! <= 0)  // loads read negative
        }
        let reading = snapshot.reading(nodeDrawWatts: 4_000, at: 0)
        #expect(abs(reading.homeLoadWatts! - device.panel.homeLoadWatts(atSecond: device.time.now)) <= 0.05)
        #expect(PowerBudget.compute(reading).isKnown)
        #expect(panel.diagnostics().totalRejections == 0)
    }

    @Test func anEVChargerStartingShowsInTheNextSnapshot() async throws {
        let serial = "sim-ev"
        let device = try await SimulatedDevice(broker, serial: serial)
        defer { device.client.close() }
        let panel = makePanel(broker, serial: serial)
        try await withRunning(panel) {
            try await device.publisher.publish()
            let before = try await panel.waitForSnapshot { $0.mainsActivePowerWatts != nil }
            device.panel.addLoad(name: "EV charger", watts: 48 * 240)
            try await device.publisher.publish()
            let after = try await panel.waitForSnapshot {
                $0.circuits.contains { $0.name == "EV charger" } && $0.mainsActivePowerWatts != nil
            }
            #expect(abs(after.mainsActivePowerWatts! - before.mainsActivePowerWatts! - 11_520) <= 0.1)
            let ev = try #require(after.circuits.first { $0.name == "EV charger" })
            #expect(abs(ev.activePowerWatts! + 11_520) <= 0.05)
            // Without the node's own 80 A cap, the headroom shrinks by the charger's 48 A.
            let uncapped = PowerBudget.Configuration(nodeCapAmps: 1_000)
            let budgetBefore = PowerBudget.compute(before.reading(nodeDrawWatts: 0, at: 0), configuration: uncapped)
            let budgetAfter = PowerBudget.compute(after.reading(nodeDrawWatts: 0, at: 0), configuration: uncapped)
            #expect(abs(budgetBefore.amps - budgetAfter.amps - 48) < 0.01)
        }
    }

    @Test func retainedValuesAreNotFreshUntilTheNextUpdate() async throws {
        let serial = "sim-retained"
        let device = try await SimulatedDevice(broker, serial: serial)
        defer { device.client.close() }
        // Once an observer sees the frame's last message (`$state` ready), the broker holds the whole frame retained.
        let observer = try await connectedClient(broker, id: "observer-\(serial)")
        defer { observer.close() }
        try await observer.subscribe("ebus/5/\(serial)/$state")
        try await device.publisher.publish()
        for await message in observer.messages where message.payload == Array("ready".utf8) { break }
        let panel = makePanel(broker, serial: serial)
        try await withRunning(panel) {
            let retained = try await panel.waitForSnapshot { $0.breakerRatingAmps != nil && $0.circuits.count == 2 }
            #expect(retained.mainsActivePowerWatts == nil && retained.ageSeconds == nil)
            #expect(!isKnownToGovernor(retained))
            try await device.publisher.publish()
            let live = try await panel.waitForSnapshot { $0.mainsActivePowerWatts != nil }
            #expect(live.ageSeconds == 0)
        }
    }

    @Test func noUpdatesMeanTheAgeGrows() async throws {
        let serial = "sim-stale"
        let device = try await SimulatedDevice(broker, serial: serial)
        defer { device.client.close() }
        let clock = ManualClock()
        let panel = makePanel(broker, serial: serial, clock: clock)
        try await withRunning(panel) {
            try await device.publisher.publish()
            _ = try await panel.waitForSnapshot { $0.mainsActivePowerWatts != nil }
            clock.advance(by: .seconds(5))
            let stale = try await panel.snapshot()
            #expect(stale.ageSeconds == 5)
            #expect(stale.reading(nodeDrawWatts: 0, at: 5).at == 0)
            clock.advance(by: .milliseconds(2_500))
            #expect(try await panel.snapshot().ageSeconds == 7.5)
            try await device.publisher.publish()
            let fresh = try await panel.waitForSnapshot { $0.ageSeconds == 0 }
            #expect(fresh.mainsActivePowerWatts != nil)
        }
    }

    @Test func hostilePayloadsOnRealTopicsFailSafe() async throws {
        let serial = "sim-hostile"
        let device = try await SimulatedDevice(broker, serial: serial)
        defer { device.client.close() }
        let raw = try await connectedClient(broker, id: "raw-\(serial)")
        defer { raw.close() }
        let panel = makePanel(broker, serial: serial)
        let mains = "upstream-lugs/active-power"
        let cases: [(String, [UInt8], PanelRejection.Kind, @Sendable (PanelSnapshot) -> Bool)] = [
            (mains, Array("abc".utf8), .notANumber, { $0.mainsActivePowerWatts == nil }),
            (mains, Array("NaN".utf8), .nonFinite, { $0.mainsActivePowerWatts == nil }),
            (mains, Array("1e400".utf8), .nonFinite, { $0.mainsActivePowerWatts == nil }),
            (mains, Array(repeating: UInt8(ascii: "9"), count: (1 << 20) + 1), .payloadTooLarge, { $0.mainsActivePowerWatts == nil }),
            (mains, [0x31, 0xFF, 0xFE, 0x30], .invalidUTF8, { $0.mainsActivePowerWatts == nil }),
            (mains, Array(#"{"active-power": 1200}"#.utf8), .notANumber, { $0.mainsActivePowerWatts == nil }),
            ("core/breaker-rating", Array("-200".utf8), .outOfRange, { $0.breakerRatingAmps == nil }),
            ("$state", Array("lost".utf8), .deviceNotReady, { $0.mainsActivePowerWatts == nil && $0.ageSeconds == nil }),
            ("$description", Array("{\"nodes\": [".utf8), .malformedDescription, { $0.mainsActivePowerWatts != nil }),
        ]
        try await withRunning(panel) {
            for (suffix, payload, kind, isSafe) in cases {
                try device.publisher.publishState(.ready)
                try await device.publisher.publish()
                _ = try await panel.waitForSnapshot { isKnownToGovernor($0) }
                let before = panel.diagnostics().count(of: kind)
                try raw.publish("ebus/5/\(serial)/\(suffix)", payload: payload)
                _ = try await panel.waitForDiagnostics { $0.count(of: kind) > before }
                let snapshot = try await panel.snapshot()
                #expect(isSafe(snapshot), "\(suffix) ← \(kind)")
                if kind != .malformedDescription { #expect(!isKnownToGovernor(snapshot), "\(suffix) ← \(kind)") }
                expectPlausible(snapshot)
            }
        }
        #expect(device.client.statistics.oversizePayloads == 0)
        #expect(panel.mqttStatistics()?.oversizePayloads == 1)
    }

    @Test func reconnectsAndResubscribesAfterTheBrokerRestarts() async throws {
        // Its own broker: restarting the suite's would disturb the other tests.
        let broker = try await MosquittoBroker.start()
        defer { broker.stop() }
        let serial = "sim-restart"
        let device = try await SimulatedDevice(broker, serial: serial)
        defer { device.client.close() }
        let panel = makePanel(broker, serial: serial)
        try await withRunning(panel) {
            try await device.publisher.publish()
            _ = try await panel.waitForSnapshot { $0.mainsActivePowerWatts != nil }
            try await broker.restart()
            // Both clients reconnect by themselves (libmosquitto's backoff starts at 1 s); the panel resubscribes.
            try await device.client.waitUntilConnected()
            device.panel.addLoad(name: "EV charger", watts: 48 * 240)
            try await device.publisher.publish()
            // Live or (if the panel resubscribed after this publish) retained: either way it arrives.
            _ = try await panel.waitForSnapshot(timeout: .seconds(30)) { $0.circuits.contains { $0.name == "EV charger" } }
            // The publisher re-announced the device, so once a live frame follows the panel is usable again.
            try await device.publisher.publish()
            let live = try await panel.waitForSnapshot(timeout: .seconds(30)) { isKnownToGovernor($0) }
            #expect(live.circuits.contains { $0.name == "EV charger" })
            #expect(device.client.statistics.reconnects >= 1)
            #expect((panel.mqttStatistics()?.reconnects ?? 0) >= 1)
        }
    }

    @Test func wrongPasswordIsAClearError() async throws {
        let client = try MQTTClient(
            configuration: .init(
                host: broker.host, port: broker.port, clientID: "intruder", username: MosquittoBroker.username, password: "wrong"))
        await #expect {
            try await client.connect()
        } throws: { error in
            guard let error = error as? MQTTError else { return false }
            return error.code == .notAuthorized && error.description.contains("not authori")
        }
        // The panel keeps trying (a password may be fixed, a broker may come back) and says why it has no figures.
        var configuration = SpanPanelConfiguration(serial: "any", credentials: testCredentials(broker, password: "wrong"))
        configuration.reconnectDelay = .milliseconds(5)...(.milliseconds(20))
        let panel = SpanPanel(configuration: configuration, clock: ManualClock())
        let running = Task { try await panel.run() }
        defer { running.cancel() }
        let error = try await panel.waitForConnectionFailures(2)
        #expect(error.code == .notAuthorized)
        let snapshot = try await panel.snapshot()
        #expect(snapshot.unavailableBecause?.contains("cannot reach the panel's broker") == true)
        #expect(!isKnownToGovernor(snapshot))
    }

    @Test func aBrokerDownAtStartIsTriedAgainUntilItAnswers() async throws {
        let late = try await MosquittoBroker.start()
        defer { late.stop() }
        late.killProcess()
        let failures = Mutex(0)
        var configuration = SpanPanelConfiguration(serial: "late", credentials: testCredentials(late))
        configuration.reconnectDelay = .milliseconds(5)...(.milliseconds(50))
        configuration.onConnectionFailure = { _ in failures.withLock { $0 += 1 } }
        let panel = SpanPanel(configuration: configuration, clock: ManualClock())
        let running = Task { try await panel.run() }
        defer { running.cancel() }
        _ = try await panel.waitForConnectionFailures(2)
        #expect(failures.withLock { $0 } >= 2, "each failure is reported, for the node's log")
        #expect(try await panel.snapshot().unavailableBecause?.contains("cannot reach the panel's broker") == true)

        try await late.restart()
        try await panel.waitUntilSubscribed()
        #expect(panel.connectionError() == nil)
        let device = try await SimulatedDevice(late, serial: "late")
        defer { device.client.close() }
        try await device.publisher.publish()
        let snapshot = try await panel.waitForSnapshot { $0.mainsActivePowerWatts != nil }
        #expect(snapshot.unavailableBecause == nil)
        #expect(isKnownToGovernor(snapshot))
    }

    @Test func anUnreachableBrokerIsAClearError() async throws {
        let port = try MosquittoBroker.freePort()
        let client = try MQTTClient(configuration: .init(host: "127.0.0.1", port: port, clientID: "nobody", connectTimeout: .seconds(5)))
        await #expect {
            try await client.connect()
        } throws: { error in
            (error as? MQTTError)?.code == .connectionFailed
        }
    }

    @Test func fuzzThroughTheBrokerNeverYieldsAnImplausibleFigure() async throws {
        let serial = "sim-fuzz"
        let device = try await SimulatedDevice(broker, serial: serial)
        defer { device.client.close() }
        let raw = try await connectedClient(broker, id: "raw-\(serial)")
        defer { raw.close() }
        let panel = makePanel(broker, serial: serial)
        var rng = SplitMix64(state: 0x5EED_F00D)
        let fuzz = PanelFuzzer(
            serial: serial, circuits: device.panel.snapshot().circuits.map { SpanPanelPublisher.nodeID(forCircuit: $0.id) })
        try await withRunning(panel) {
            try await device.publisher.publish()
            _ = try await panel.waitForSnapshot { $0.mainsActivePowerWatts != nil }
            for i in 0..<50 {
                let (topic, payload) = fuzz.mutation(&rng, large: i % 10 == 9)
                try raw.publish(topic, payload: payload)
            }
            // MQTT keeps one publisher's order: once this marker is seen, every mutation before it has been handled.
            let marker = "ebus/5/\(serial)/FUZZ-DONE/x"
            try raw.publish(marker, payload: [])
            _ = try await panel.waitForDiagnostics { $0.lastRejection?.topic == marker }
        }
        expectPlausible(try await panel.snapshot())
        #expect(panel.diagnostics().totalRejections > 0)
    }
}
