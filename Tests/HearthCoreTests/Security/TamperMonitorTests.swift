import HearthCore
import Testing

@Suite struct TamperMonitorTests {
    static let home = NetworkLocation(
        publicAddress: "203.0.113.7", gatewayObservedAddress: "203.0.113.7", autonomousSystem: 64500, routerIdentity: "router-A")

    static func monitor() -> TamperMonitor {
        TamperMonitor(baseline: .init(location: home, gpuSerials: ["GPU-1", "GPU-2"]))
    }

    static func isQuarantine(_ actions: [TamperMonitor.Action]) -> Bool {
        actions.contains { if case .quarantine = $0 { true } else { false } }
    }

    @Test func enclosureOpenQuarantinesReportsThenZeroizes() {
        var m = Self.monitor()
        let actions = m.handle(.signal(.enclosureOpened), now: 10)
        #expect(
            actions == [
                .quarantine([.enclosureOpened]),
                .report(TamperReport(findings: [.enclosureOpened], at: 10, quarantined: true)),
                .zeroizeSecrets,
            ])
        #expect(m.isQuarantined)
        // Latched: nothing more until re-enrollment.
        let r1 = m.handle(.signal(.hardwareInventory(gpuSerials: ["X"])), now: 11)
        #expect(r1.isEmpty)
        _ = m.handle(.reenrolled(.init(location: Self.home, gpuSerials: ["X"])), now: 12)
        #expect(!m.isQuarantined)
        let r2 = m.handle(.signal(.hardwareInventory(gpuSerials: ["X"])), now: 13)
        #expect(r2.isEmpty)
    }

    @Test func gpuSwapIsCritical() {
        var m = Self.monitor()
        let r3 = m.handle(.signal(.hardwareInventory(gpuSerials: ["GPU-1", "GPU-2"])), now: 0)
        #expect(r3.isEmpty)
        let r4 = m.handle(.signal(.hardwareInventory(gpuSerials: ["GPU-1", "GPU-9"])), now: 1)
        #expect(Self.isQuarantine(r4))
    }

    @Test func aSingleStrongSignalIsReportedNotQuarantined() {
        var m = Self.monitor()
        let actions = m.handle(.signal(.motion(tiltDegrees: 30, accelerationG: 0.1)), now: 0)
        #expect(actions == [.report(TamperReport(findings: [.moved], at: 0, quarantined: false))])
        #expect(!m.isQuarantined)
        // Small vibrations are no finding at all.
        let r5 = m.handle(.signal(.motion(tiltDegrees: 2, accelerationG: 0.05)), now: 1)
        #expect(r5.isEmpty)
    }

    @Test func theftSequenceIsCorroborated() {
        // Unplugged (panel power lost), carried (motion), plugged in elsewhere (new router, new address).
        var m = Self.monitor()
        let r6 = m.handle(.signal(.panelPowerLost), now: 0)
        #expect(!Self.isQuarantine(r6))
        let carried = m.handle(.signal(.motion(tiltDegrees: 40, accelerationG: 1.2)), now: 60)
        #expect(Self.isQuarantine(carried))
        #expect(carried.last == .zeroizeSecrets)
        guard case .report(let report) = carried[1] else {
            Issue.record("expected the report second")
            return
        }
        #expect(report.quarantined && Set(report.findings) == [.panelPowerLost, .moved])
    }

    @Test func strongSignalsOutsideTheWindowDoNotCorroborate() {
        var m = Self.monitor()
        _ = m.handle(.signal(.panelPowerLost), now: 0)
        _ = m.handle(.signal(.panelPowerRestored), now: 5)
        _ = m.handle(.tick, now: 700)
        let r7 = m.handle(.signal(.motion(tiltDegrees: 40, accelerationG: 0)), now: 701)
        #expect(!Self.isQuarantine(r7))
    }

    @Test func weakSignalsAloneNeverQuarantine() {
        var m = Self.monitor()
        // The ISP rotates the address: weak, and the new address becomes the baseline.
        let rotated = NetworkLocation(
            publicAddress: "198.51.100.9", gatewayObservedAddress: "198.51.100.9", autonomousSystem: 64500, routerIdentity: "router-A")
        let r8 = m.handle(.signal(.networkLocation(rotated)), now: 0)
        #expect(r8 == [.report(TamperReport(findings: [.addressChanged], at: 0, quarantined: false))])
        #expect(m.baseline.location.publicAddress == "198.51.100.9")
        let r9 = m.handle(.signal(.networkLocation(rotated)), now: 1)
        #expect(r9.isEmpty)
        // NTP step and a flaky link.
        _ = m.handle(.signal(.clockSample(wallSeconds: 1000, monotonicSeconds: 10)), now: 2)
        let r10 = m.handle(.signal(.clockSample(wallSeconds: 5000, monotonicSeconds: 11)), now: 3)
        #expect(r10.count == 1)
        for t in 4..<10 { _ = m.handle(.signal(.heartbeatMissed), now: Double(t)) }
        #expect(!m.isQuarantined)
        // But a weak finding corroborates a strong one.
        let r11 = m.handle(.signal(.panelPowerLost), now: 20)
        #expect(Self.isQuarantine(r11))
    }

    @Test func newRouterAndAddressQuarantine() {
        var m = Self.monitor()
        let elsewhere = NetworkLocation(
            publicAddress: "192.0.2.1", gatewayObservedAddress: "192.0.2.1", autonomousSystem: 64999, routerIdentity: "router-B")
        let actions = m.handle(.signal(.networkLocation(elsewhere)), now: 0)
        #expect(actions.first == .quarantine([.routerChanged, .networkChanged]))
        #expect(actions.count == 3)
        #expect(m.isQuarantined)
    }

    @Test func unknownBaselineFieldsAreLearned() {
        var m = TamperMonitor()
        let r12 = m.handle(.signal(.networkLocation(Self.home)), now: 0)
        #expect(r12.isEmpty)
        let r13 = m.handle(.signal(.hardwareInventory(gpuSerials: ["G"])), now: 0)
        #expect(r13.isEmpty)
        #expect(m.baseline.location == Self.home)
        #expect(m.baseline.gpuSerials == ["G"])
    }
}
