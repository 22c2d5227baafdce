import Foundation
import HearthCore
import Testing

@testable import HearthPanel

/// The pure parser: topics and payloads in, snapshots out, no broker.
@Suite struct SpanPanelStateTests {
    static let serial = "nj-2316-0001"
    static let circuit = "13044bfbcbe5554b8f3dba126bce828f"

    /// A ready panel with a described device and good values, as a real one would publish them.
    static func readyState(circuitUnit: String = "kW", options: SpanPanelState.Options = .init()) -> SpanPanelState {
        var state = SpanPanelState(serial: serial, options: options)
        let description = SpanDeviceDescription.make(
            name: "test", version: 1, circuits: [circuit], circuitPowerUnit: circuitUnit, battery: true)
        state.send("$state", "init", at: 0)
        state.send("$description", description.json(), at: 0)
        state.send("core/breaker-rating", "200", at: 0)
        state.send("core/l1-voltage", "121.5", at: 0)
        state.send("core/door", "CLOSED", at: 0)
        state.send("upstream-lugs/direction", "UPSTREAM", at: 0)
        state.send("downstream-lugs/direction", "DOWNSTREAM", at: 0)
        state.send("downstream-lugs/active-power", "-50", at: 0)
        state.send("\(circuit)/name", "EV charger", at: 0)
        state.send("\(circuit)/active-power", circuitUnit == "kW" ? "-11.52" : "-11520", at: 0)
        state.send("\(circuit)/shed-priority", "SOC_THRESHOLD", at: 0)
        state.send("bess-0/soc", "80", at: 0)
        state.send("bess-0/soe", "10.8", at: 0)
        state.send("pcs-0/requested-import-limit", "40", at: 0)
        state.send("pcs-0/requested-import-limit-enablement", "ENABLED", at: 0)
        state.send("$state", "ready", at: 0)
        state.send("upstream-lugs/l1-current", "60", at: 1)
        state.send("upstream-lugs/l2-current", "55", at: 1)
        state.send("upstream-lugs/active-power", "13800", at: 1)
        return state
    }

    @Test func readsFiguresInSIWithSPANSigns() {
        let s = Self.readyState().snapshot(at: 1.5)
        #expect(s.mainsActivePowerWatts == 13_800)
        #expect(s.l1CurrentAmps == 60)
        #expect(s.l2CurrentAmps == 55)
        #expect(s.breakerRatingAmps == 200)
        #expect(s.l1Voltage == 121.5)
        #expect(s.doorOpen == false)
        #expect(s.batteryStateOfChargePercent == 80)
        #expect(s.batteryStateOfEnergyWattHours == 10_800)  // kWh → Wh
        #expect(s.requestedImportLimitWatts == 9_720)  // 40 A × 243 V leg to leg
        #expect(s.ageSeconds == 0.5)
        let circuit = try! #require(s.circuits.first { $0.id == Self.circuit })
        #expect(circuit.name == "EV charger")
        #expect(circuit.activePowerWatts == -11_520)  // kW → W; loads read negative
        #expect(circuit.shedPriority == "SOC_THRESHOLD")
        // Downstream lugs are never mistaken for mains.
        #expect(s.mainsActivePowerWatts != -50)
        let reading = s.reading(nodeDrawWatts: 4_000, at: 1.5)
        #expect(reading.homeLoadWatts == 9_800)
        #expect(PowerBudget.compute(reading).isKnown)
    }

    @Test func declaredWattsAreNotScaled() {
        let s = Self.readyState(circuitUnit: "W").snapshot(at: 1)
        #expect(s.circuits.first?.activePowerWatts == -11_520)
    }

    @Test func kilowattQuirkOptionReadsDeclaredKilowattsAsWatts() {
        var state = Self.readyState(options: .init(circuitKilowattsAreWatts: true))
        state.send("\(Self.circuit)/active-power", "-11520", at: 2)
        #expect(state.snapshot(at: 2).circuits.first?.activePowerWatts == -11_520)
    }

    @Test func rolesComeFromTypesBeforeIDs() {
        // A panel whose upstream lugs are not called "upstream-lugs": the type and direction decide.
        var state = SpanPanelState(serial: Self.serial)
        let description = HomieDescription(nodes: [
            "lugs-a": .init(type: SpanNodeRole.NodeType.lugs),
            "lugs-b": .init(type: SpanNodeRole.NodeType.upstreamLugs),
            "main": .init(type: SpanNodeRole.NodeType.core),
        ])
        state.send("$description", description.json(), at: 0)
        state.send("$state", "ready", at: 0)
        state.send("lugs-a/direction", "DOWNSTREAM", at: 0)
        state.send("lugs-a/active-power", "1", at: 0)
        state.send("lugs-b/active-power", "2500", at: 0)
        state.send("main/breaker-rating", "150", at: 0)
        let s = state.snapshot(at: 0)
        #expect(s.mainsActivePowerWatts == 2_500)
        #expect(s.breakerRatingAmps == 150)
        #expect(state.role(of: "lugs-a") == .downstreamLugs)
    }

    @Test func withoutADescriptionWellKnownIDsAreUsed() {
        var state = SpanPanelState(serial: Self.serial)
        state.send("$state", "ready", at: 0)
        state.send("upstream-lugs/active-power", "900", at: 0)
        state.send("core/breaker-rating", "100", at: 0)
        state.send("\(Self.circuit)/active-power", "-900", at: 0)
        let s = state.snapshot(at: 0)
        #expect(s.mainsActivePowerWatts == 900)
        #expect(s.breakerRatingAmps == 100)
        #expect(s.circuits.first?.activePowerWatts == -900)  // undeclared circuit power is watts
    }

    @Test(arguments: [
        ("abc", PanelRejection.Kind.notANumber), ("NaN", .nonFinite), ("inf", .nonFinite), ("1e400", .nonFinite),
        ("{\"value\": 5}", .notANumber), (" 12", .notANumber), ("0x10", .notANumber), ("", .notANumber), ("1e6", .outOfRange),
        ("12,5", .notANumber),
    ])
    func garbageMainsMakesTheFigureNil(payload: String, kind: PanelRejection.Kind) {
        var state = Self.readyState()
        #expect(state.snapshot(at: 2).mainsActivePowerWatts != nil)
        let rejections = state.send("upstream-lugs/active-power", payload, at: 2)
        #expect(rejections.map(\.kind) == [kind])
        let s = state.snapshot(at: 2)
        #expect(s.mainsActivePowerWatts == nil)
        #expect(!isKnownToGovernor(s))
        #expect(state.diagnostics.count(of: kind) == 1)
        // The age still counts from the last good value; it is not refreshed by garbage.
        #expect(s.ageSeconds == 1)
    }

    @Test func invalidUTF8AndOversizePayloadsReplaceTheValue() {
        var state = Self.readyState()
        state.handle(topic: "ebus/5/\(Self.serial)/upstream-lugs/active-power", payload: [0x31, 0xFF, 0xFE], retained: false, at: 2)
        #expect(state.snapshot(at: 2).mainsActivePowerWatts == nil)
        #expect(state.diagnostics.count(of: .invalidUTF8) == 1)

        state = Self.readyState()
        state.handle(topic: "ebus/5/\(Self.serial)/upstream-lugs/active-power", payload: [], retained: false, payloadTooLarge: true, at: 2)
        #expect(state.snapshot(at: 2).mainsActivePowerWatts == nil)
        state.handle(
            topic: "ebus/5/\(Self.serial)/core/breaker-rating", payload: Array(repeating: 0x31, count: 300), retained: false, at: 2)
        #expect(state.snapshot(at: 2).breakerRatingAmps == nil)
        #expect(state.diagnostics.count(of: .payloadTooLarge) == 2)
    }

    @Test(arguments: ["-200", "0", "200.5", "abc", "1e9"])
    func implausibleBreakerRatingIsNil(payload: String) {
        var state = Self.readyState()
        state.send("core/breaker-rating", payload, at: 2)
        let s = state.snapshot(at: 2)
        #expect(s.breakerRatingAmps == nil)
        #expect(!isKnownToGovernor(s))
    }

    @Test(arguments: ["lost", "disconnected", "sleeping", "init", "READY", "garbage"])
    func aPanelThatIsNotReadyGivesNoLiveFigures(state payload: String) {
        var state = Self.readyState()
        let rejections = state.send("$state", payload, at: 2)
        #expect(rejections.map(\.kind) == (payload == "init" ? [] : [.deviceNotReady]))
        let s = state.snapshot(at: 2)
        #expect(s.mainsActivePowerWatts == nil && s.ageSeconds == nil && s.l1CurrentAmps == nil)
        #expect(!isKnownToGovernor(s))
        // Back to ready: still nothing until a fresh mains reading arrives.
        state.send("$state", "ready", at: 3)
        #expect(state.snapshot(at: 3).mainsActivePowerWatts == nil)
        state.send("upstream-lugs/active-power", "5000", at: 4)
        #expect(state.snapshot(at: 4).mainsActivePowerWatts == 5_000)
        #expect(state.snapshot(at: 4).ageSeconds == 0)
    }

    @Test func retainedMainsIsNotFresh() {
        var state = SpanPanelState(serial: Self.serial)
        state.send("$state", "ready", at: 0, retained: true)
        state.send("core/breaker-rating", "200", at: 0, retained: true)
        state.send("upstream-lugs/active-power", "3000", at: 0, retained: true)
        let stale = state.snapshot(at: 0)
        #expect(stale.mainsActivePowerWatts == nil && stale.ageSeconds == nil)
        state.send("upstream-lugs/active-power", "3100", at: 1)
        #expect(state.snapshot(at: 1.25).mainsActivePowerWatts == 3_100)
        #expect(state.snapshot(at: 1.25).ageSeconds == 0.25)
    }

    @Test func ageGrowsWithoutUpdates() {
        let state = Self.readyState()
        #expect(state.snapshot(at: 1).ageSeconds == 0)
        #expect(state.snapshot(at: 31).ageSeconds == 30)
        #expect(state.snapshot(at: 31).reading(nodeDrawWatts: 0, at: 31).at == 1)
    }

    @Test func wrongTypesUnitsAndEnumsAreRejected() {
        var state = Self.readyState()
        #expect(state.send("core/door", "AJAR", at: 2).map(\.kind) == [.unexpectedValue])
        #expect(state.snapshot(at: 2).doorOpen == nil)
        #expect(state.send("\(Self.circuit)/shed-priority", "DROP TABLE", at: 2).map(\.kind) == [.unexpectedValue])
        #expect(state.send("\(Self.circuit)/name", "bad\u{0}name", at: 2).map(\.kind) == [.unexpectedValue])
        #expect(state.send("bess-0/soc", "101", at: 2).map(\.kind) == [.outOfRange])

        // A description that declares an unconvertible unit or a non-numeric datatype makes the figure unknown.
        var weird = SpanDeviceDescription.make(name: "x", version: 2, circuits: [Self.circuit], circuitPowerUnit: "kW", battery: true)
        weird.nodes[SpanNodeRole.NodeID.upstreamLugs]?.properties["active-power"]?.unit = "hp"
        weird.nodes[SpanNodeRole.NodeID.core]?.properties["breaker-rating"]?.datatype = "string"
        state.send("$description", weird.json(), at: 3)
        #expect(state.send("upstream-lugs/active-power", "10", at: 3).map(\.kind) == [.unsupportedUnit])
        #expect(state.send("core/breaker-rating", "200", at: 3).map(\.kind) == [.unexpectedValue])
        #expect(state.snapshot(at: 3).mainsActivePowerWatts == nil)
    }

    @Test func descriptionsAndTopicsAreValidated() {
        var state = Self.readyState()
        for bad in ["not json", "[1,2]", "{\"homie\":\"4.0\",\"nodes\":{}}", "{\"nodes\": 5}", "{}"] {
            #expect(state.send("$description", bad, at: 2).map(\.kind) == [.malformedDescription])
        }
        #expect(state.snapshot(at: 2).mainsActivePowerWatts == 13_800)  // previous description kept
        #expect(state.send("made-up-node/active-power", "5", at: 2).map(\.kind) == [.unknownNode])
        #expect(state.send("Core/Breaker", "5", at: 2).map(\.kind) == [.malformedTopic])
        #expect(state.send("core/breaker-rating/extra", "5", at: 2).map(\.kind) == [.malformedTopic])
        #expect(state.send("core/breaker-rating/set", "5", at: 2).isEmpty)
        #expect(state.send("core/breaker-rating/$target", "5", at: 2).isEmpty)
        #expect(state.send("core/software-version", "x", at: 2).isEmpty)
        let foreign = state.handle(
            topic: "ebus/5/other-serial/upstream-lugs/active-power", payload: Array("1".utf8), retained: false, at: 2)
        #expect(foreign.isEmpty)
        #expect(state.snapshot(at: 2).breakerRatingAmps == 200)
    }

    @Test func floodsOfNodesAreBounded() {
        var state = SpanPanelState(serial: Self.serial, options: .init(maximumNodes: 8))
        for i in 0..<20 {
            let id = String(repeating: "a", count: 30) + (i < 16 ? "0" : "") + String(i, radix: 16)
            state.send("\(id)/active-power", "-1", at: 0)
        }
        #expect(state.diagnostics.count(of: .tooManyNodes) > 0)
        #expect(state.snapshot(at: 0).circuits.count <= 8)
    }

    // MARK: Panels as they publish (issue 15)

    @Test func documentedNodeIDsAreRecognisedWithoutADescription() {
        // SPAN's topic reference names the nodes `lugs-upstream`, `lugs-downstream`, `bess` and `pcs`.
        var state = SpanPanelState(serial: Self.serial)
        state.send("$state", "ready", at: 0)
        state.send("lugs-upstream/active-power", "2400", at: 0)
        state.send("lugs-downstream/active-power", "-80", at: 0)
        state.send("core/breaker-rating", "200", at: 0)
        state.send("bess/soc", "64", at: 0)
        let s = state.snapshot(at: 0)
        #expect(s.mainsActivePowerWatts == 2_400)
        #expect(s.batteryStateOfChargePercent == 64)
        #expect(s.unavailableBecause == nil)
        #expect(isKnownToGovernor(s))
        #expect(state.role(of: "pcs") == .powerControl)
        #expect(state.role(of: "lugs-downstream") == .downstreamLugs)
    }

    @Test func aFullPanelsDescriptionIsAccepted() {
        // About 70 KB: 48 circuits with long names, past the old 64 KiB limit.
        let circuits = (0..<48).map { i in String(format: "%032x", i + 1) }
        var description = SpanDeviceDescription.make(name: "full", version: 1, circuits: circuits, circuitPowerUnit: "kW", battery: true)
        for id in circuits {
            description.nodes[id]?.name = String(repeating: "Kitchen counter receptacles, island ", count: 30)
        }
        let json = description.json()
        #expect(json.utf8.count > 65_536)
        var state = SpanPanelState(serial: Self.serial)
        #expect(state.send("$description", json, at: 0).isEmpty)
        #expect(state.description?.nodes.count == description.nodes.count)
    }

    @Test(arguments: [
        // (circuit payloads as published, what they are): firmware that sends watts, and a panel true to its kW.
        (["-120", "-1500", "-800"], [-120.0, -1_500, -800]),
        (["-0.12", "-1.5", "-0.8"], [-120.0, -1_500, -800]),
    ])
    func circuitPowerDeclaredInKilowattsIsReadAsThePanelSendsIt(payloads: [String], watts: [Double]) {
        let ids = (1...3).map { String(format: "%032x", $0) }
        var state = SpanPanelState(serial: Self.serial)
        let description = SpanDeviceDescription.make(name: "t", version: 1, circuits: ids, circuitPowerUnit: "kW", battery: false)
        state.send("$description", description.json(), at: 0)
        state.send("$state", "ready", at: 0)
        state.send("core/breaker-rating", "200", at: 0)
        // Firmware's watts, read as declared, would be 120–1,500 kW: out of range; they are not rejected.
        for (id, payload) in zip(ids, payloads) { #expect(state.send("\(id)/active-power", payload, at: 0).isEmpty) }
        #expect(state.circuitPowerIsWatts == nil, "undecided until the mains has spoken")
        #expect(state.snapshot(at: 0).circuits.allSatisfy { $0.activePowerWatts == nil })
        state.send("upstream-lugs/active-power", "2600", at: 1)
        #expect(state.circuitPowerIsWatts == (payloads[0] == "-120"))
        #expect(state.snapshot(at: 1).circuits.map(\.activePowerWatts) == watts)
    }

    @Test func anOperatorMayFixTheCircuitUnit() {
        var declared = SpanPanelState(serial: Self.serial, options: .init(circuitPowerUnit: .declared))
        #expect(declared.circuitPowerIsWatts == false)
        var watts = SpanPanelState(serial: Self.serial, options: .init(circuitKilowattsAreWatts: true))
        #expect(watts.circuitPowerIsWatts == true)
        declared.send("upstream-lugs/active-power", "2600", at: 0)
        watts.send("upstream-lugs/active-power", "2600", at: 0)
        #expect(declared.circuitPowerIsWatts == false && watts.circuitPowerIsWatts == true, "a fixed choice stays")
    }

    @Test func aCircuitRemovedFromTheDescriptionLosesItsValue() {
        var state = Self.readyState()
        #expect(state.snapshot(at: 1).circuits.contains { $0.id == Self.circuit })
        let without = SpanDeviceDescription.make(name: "test", version: 2, circuits: [], circuitPowerUnit: "kW", battery: true)
        state.send("$description", without.json(), at: 2)
        #expect(!state.snapshot(at: 2).circuits.contains { $0.id == Self.circuit })
        #expect(state.snapshot(at: 2).mainsActivePowerWatts == 13_800, "the described nodes keep theirs")
    }

    @Test func aSnapshotWithoutMainsSaysWhy() {
        var state = SpanPanelState(serial: Self.serial)
        #expect(state.snapshot(at: 0).unavailableBecause?.contains("$state") == true)
        state.send("$state", "ready", at: 0)
        state.send("core/breaker-rating", "200", at: 0)
        #expect(state.snapshot(at: 0).unavailableBecause?.contains("upstream lugs") == true)
        state.send("upstream-lugs/active-power", "abc", at: 0)
        #expect(state.snapshot(at: 0).unavailableBecause?.contains("mains active-power") == true)
        state.send("upstream-lugs/active-power", "900", at: 1)
        #expect(state.snapshot(at: 1).unavailableBecause == nil)
    }

    @Test func lenientDescriptionKeepsWellFormedNodes() {
        let json = """
            {"homie":"5.0","nodes":{"core":{"type":"\(SpanNodeRole.NodeType.core)","properties":{"breaker-rating":{"unit":5}}},
             "upstream-lugs":"nonsense","x":{"type":7}}}
            """
        guard case .success(let description) = HomieDescription.parse(json) else {
            Issue.record("lenient description did not parse")
            return
        }
        #expect(description.nodes["core"]?.type == SpanNodeRole.NodeType.core)
        #expect(description.nodes["core"]?.properties["breaker-rating"]?.unit == nil)
        #expect(description.nodes["upstream-lugs"]?.type == nil)
    }
}

extension SpanPanelState {
    /// Sends UTF-8 `payload` on `ebus/5/<serial>/<suffix>`.
    @discardableResult
    mutating func send(_ suffix: String, _ payload: String, at now: Double, retained: Bool = false) -> [PanelRejection] {
        handle(topic: "ebus/5/\(serial)/\(suffix)", payload: Array(payload.utf8), retained: retained, at: now)
    }
}
