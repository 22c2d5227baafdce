import HearthCore
import Testing

@Suite struct NodeTrustPolicyTests {
    static let node = NodeID("n1")
    static let good = SoftwareMeasurement(agent: "aa", engine: "bb", model: "cc")
    static let hardware = HardwareIdentity(gpuSerials: ["GPU-1"])

    static func attestation(
        _ measurement: SoftwareMeasurement = good, hardware: HardwareIdentity = hardware, key: String = "key-1", at: Double
    ) -> Attestation {
        Attestation(node: node, measurement: measurement, hardware: hardware, keyFingerprint: key, measuredAt: at)
    }

    static func enrolled(site: NodeTrustPolicy.Site = .home) -> NodeTrustPolicy {
        var policy = NodeTrustPolicy(
            configuration: .init(heartbeatIntervalSeconds: 5, missedHeartbeatLimit: 3, allowedMeasurements: [good.digest]))
        let actions = policy.handle(.enrolled(attestation(at: 0), site: site), now: 0)
        #expect(actions.first == .issueCertificate(node, notBefore: -60, notAfter: 3600))
        return policy
    }

    @Test func aRevokedNodeIsRestoredAsRevokedAndItsKeyStaysRefused() {
        var before = Self.enrolled()
        _ = before.handle(.operatorRevoke(Self.node, reason: "stolen"), now: 10)
        // A restart: the revocations and the node's row come back from the store.
        var after = NodeTrustPolicy(configuration: before.configuration, revocations: before.revocations)
        after.restoreRevoked(Self.attestation(at: 0), site: .home, now: 20)
        #expect(after.nodes[Self.node]?.state == .revoked)
        #expect(after.handle(.enrolled(Self.attestation(at: 30), site: .home), now: 30) == [.denyRenewal(Self.node, .revoked)])
        // A new key, after an operator's new token, enrolls.
        #expect(after.handle(.enrolled(Self.attestation(key: "key-2", at: 40), site: .home), now: 40).first?.isIssue == true)
        #expect(after.nodes[Self.node]?.state == .trusted)
    }

    @Test func renewsAtHalfLife() {
        let lifetime = CertificateLifetimePolicy()
        let (notBefore, notAfter) = lifetime.validity(issuedAt: 100)
        #expect(notAfter - 100 == 3600)
        #expect(lifetime.renewalTime(notBefore: notBefore, notAfter: notAfter) == 1900)
        #expect(!lifetime.shouldRenew(now: 1899, notBefore: notBefore, notAfter: notAfter))
        #expect(lifetime.shouldRenew(now: 1900, notBefore: notBefore, notAfter: notAfter))
        #expect(!lifetime.isValid(now: 3700, notBefore: notBefore, notAfter: notAfter))
    }

    @Test func goodAttestationRenews() {
        var policy = Self.enrolled()
        let actions = policy.handle(.renewalRequested(Self.attestation(at: 1790)), now: 1800)
        #expect(actions == [.issueCertificate(Self.node, notBefore: 1740, notAfter: 5400)])
    }

    @Test func changedBinaryIsQuarantinedNotRenewed() {
        var policy = Self.enrolled()
        let patched = SoftwareMeasurement(agent: "evil", engine: "bb", model: "cc")
        let actions = policy.handle(.renewalRequested(Self.attestation(patched, at: 1800)), now: 1800)
        #expect(actions.first == .denyRenewal(Self.node, .measurementNotAllowed))
        #expect(actions.contains(.quarantine(Self.node, .measurementChanged)))
        #expect(actions.contains(.failOverInFlight(Self.node)))
        #expect(policy.state(of: Self.node) == .quarantined)
        #expect(policy.labels(for: Self.node)[SecurityLabels.trustState] == "quarantined")
        // Restoring the binary does not lift it: only an operator does.
        let r1 = policy.handle(.renewalRequested(Self.attestation(at: 1801)), now: 1801)
        #expect(r1 == [.denyRenewal(Self.node, .quarantined)])
        _ = policy.handle(.operatorRelease(Self.node), now: 1802)
        let r2 = policy.handle(.renewalRequested(Self.attestation(at: 1803)), now: 1803)
        #expect(r2.first == .issueCertificate(Self.node, notBefore: 1743, notAfter: 5403))
    }

    @Test func upgradeToAnAllowedMeasurementRenews() {
        var policy = Self.enrolled()
        let upgraded = SoftwareMeasurement(agent: "aa2", engine: "bb", model: "cc")
        _ = policy.handle(.allowedMeasurementsChanged([Self.good.digest, upgraded.digest]), now: 1)
        let r3 = policy.handle(.renewalRequested(Self.attestation(upgraded, at: 10)), now: 10)
        #expect(r3.first == .issueCertificate(Self.node, notBefore: -50, notAfter: 3610))
    }

    @Test func denials() {
        var policy = Self.enrolled()
        let r4 = policy.handle(
            .renewalRequested(
                Attestation(node: NodeID("x"), measurement: Self.good, hardware: Self.hardware, keyFingerprint: "k", measuredAt: 0)), now: 0
        )
        #expect(
            r4
                == [.denyRenewal(NodeID("x"), .unknownNode)])
        let r5 = policy.handle(.renewalRequested(Self.attestation(at: 0)), now: 1000)
        #expect(r5 == [.denyRenewal(Self.node, .staleAttestation)])
        let r6 = policy.handle(.renewalRequested(Self.attestation(key: "key-2", at: 10)), now: 10)
        #expect(r6.first == .denyRenewal(Self.node, .keyMismatch))
        let swapped = HardwareIdentity(gpuSerials: ["GPU-X"])
        let actions = policy.handle(.renewalRequested(Self.attestation(hardware: swapped, at: 10)), now: 10)
        #expect(actions.first == .denyRenewal(Self.node, .hardwareChanged))
        #expect(policy.state(of: Self.node) == .quarantined)
    }

    @Test func tamperReportRevokesInTheSameCall() {
        var policy = Self.enrolled()
        let report = TamperReport(findings: [.moved, .routerChanged], at: 50, quarantined: true)
        let actions = policy.handle(.tamperReport(Self.node, report), now: 50)
        let entry = RevocationEntry(node: Self.node, keyFingerprint: "key-1", reason: "tamper: moved, router-changed", at: 50)
        #expect(actions.prefix(3) == [.revoke(entry), .closeTunnel(Self.node), .failOverInFlight(Self.node)])
        #expect(policy.revocations == [entry])
        #expect(policy.isRevoked(keyFingerprint: "key-1"))
        let r7 = policy.handle(.renewalRequested(Self.attestation(at: 51)), now: 51)
        #expect(r7 == [.denyRenewal(Self.node, .revoked)])
        // Re-enrolling with the old key is refused; an operator re-enrolls it with a new key.
        let r8 = policy.handle(.enrolled(Self.attestation(at: 52), site: .home), now: 52)
        #expect(r8 == [.denyRenewal(Self.node, .revoked)])
        let r9 = policy.handle(.enrolled(Self.attestation(key: "key-2", at: 53), site: .home), now: 53)
        #expect(r9.first == .issueCertificate(Self.node, notBefore: -7, notAfter: 3653))
        // A restarted gateway keeps its revocation list.
        let restored = NodeTrustPolicy(revocations: policy.revocations)
        #expect(restored.isRevoked(keyFingerprint: "key-1"))
    }

    @Test func strongTamperSignalMarksTheNodeForSensitiveWork() {
        var policy = Self.enrolled()
        let actions = policy.handle(.tamperReport(Self.node, TamperReport(findings: [.moved], at: 70, quarantined: false)), now: 70)
        #expect(policy.state(of: Self.node) == .trusted)
        #expect(
            actions.contains(
                .updateLabels(
                    Self.node, [SecurityLabels.trustState: "trusted", SecurityLabels.site: "home", SecurityLabels.lastTamperAt: "70.0"])))
        #expect(!DataClassFilter(dataClass: .sensitive, cleanWindowSeconds: 3600).admits(labels: policy.labels(for: Self.node), now: 100))
        // Weak findings are only telemetry.
        let r10 = policy.handle(.tamperReport(Self.node, TamperReport(findings: [.addressChanged], at: 80, quarantined: false)), now: 80)
        #expect(r10.isEmpty)
    }

    @Test func missedHeartbeatsQuarantineUntilReattested() {
        var policy = Self.enrolled()
        _ = policy.handle(.heartbeat(Self.node), now: 5)
        let r11 = policy.handle(.tick, now: 20)
        #expect(r11.isEmpty)
        let actions = policy.handle(.tick, now: 20.5)
        #expect(
            actions.prefix(3) == [
                .quarantine(Self.node, .missedHeartbeats), .updateLabels(Self.node, policy.labels(for: Self.node)),
                .failOverInFlight(Self.node),
            ])
        #expect(actions.contains(.closeTunnel(Self.node)))
        let r12 = policy.handle(.tick, now: 30)
        #expect(r12.isEmpty)
        let back = policy.handle(.renewalRequested(Self.attestation(at: 40)), now: 40)
        #expect(back.first == .issueCertificate(Self.node, notBefore: -20, notAfter: 3640))
        #expect(policy.state(of: Self.node) == .trusted)
    }

    @Test func labelsCarrySiteAndAttestation() {
        var policy = NodeTrustPolicy(configuration: .init(allowedMeasurements: [Self.good.digest]))
        let tee = HardwareIdentity(gpuSerials: ["H100-1"], confidentialComputingVerified: true)
        _ = policy.handle(.enrolled(Self.attestation(hardware: tee, at: 0), site: .dataCentre), now: 0)
        let labels = policy.labels(for: Self.node)
        #expect(labels[SecurityLabels.site] == SecurityLabels.dataCentre)
        #expect(labels[SecurityLabels.attestation] == SecurityLabels.confidentialComputing)
        #expect(DataClassFilter(dataClass: .confidential).admits(labels: labels, now: 1e9))
    }

    @Test func gatewayObservedASChangeIsATamperEvent() {
        var policy = Self.enrolled()
        let r13 = policy.handle(.observedNetworkChange(Self.node, autonomousSystem: 64500), now: 1)
        #expect(r13.isEmpty)
        let r14 = policy.handle(.observedNetworkChange(Self.node, autonomousSystem: 64500), now: 2)
        #expect(r14.isEmpty)
        let actions = policy.handle(.observedNetworkChange(Self.node, autonomousSystem: 65001), now: 3)
        #expect(actions.count == 2)
        #expect(policy.nodes[Self.node]?.lastTamperAt == 3)
    }
}

extension NodeTrustPolicy.Action {
    fileprivate var isIssue: Bool {
        if case .issueCertificate = self { return true }
        return false
    }
}
