import HearthCore
import Testing

/// Who may enroll under which id, and when the missed-heartbeat clock starts (issue 11, identity and timeouts).
@Suite struct EnrollmentPolicyTests {
    typealias Fixture = NodeTrustPolicyTests

    static func policy(protected: Set<NodeID> = []) -> NodeTrustPolicy {
        var configuration = NodeTrustPolicy.Configuration(
            heartbeatIntervalSeconds: 5, missedHeartbeatLimit: 3, allowedMeasurements: [Fixture.good.digest])
        configuration.protectedIdentities = protected
        return NodeTrustPolicy(configuration: configuration)
    }

    @Test func anExistingIdNeedsARekeyAndTheRekeyRetiresTheOldKey() {
        var policy = Self.policy()
        #expect(policy.handle(.enrollmentRequested(Fixture.attestation(at: 0), site: .home, rekey: false), now: 0).first?.isIssue == true)
        // A second ordinary token for the same id changes nothing, whatever key it brings.
        let intruder = Fixture.attestation(key: "key-evil", at: 10)
        #expect(
            policy.handle(.enrollmentRequested(intruder, site: .home, rekey: false), now: 10)
                == [.refuseEnrollment(Fixture.node, .alreadyEnrolled)])
        #expect(policy.nodes[Fixture.node]?.keyFingerprint == "key-1")
        // The operator's re-key replaces the key and retires the old one.
        let actions = policy.handle(.enrollmentRequested(Fixture.attestation(key: "key-2", at: 20), site: .home, rekey: true), now: 20)
        #expect(
            actions.first
                == .retireKey(RevocationEntry(node: Fixture.node, keyFingerprint: "key-1", reason: "re-keyed by the operator", at: 20)))
        #expect(actions.contains(.closeTunnel(Fixture.node)))
        #expect(policy.nodes[Fixture.node]?.keyFingerprint == "key-2")
        #expect(policy.isRevoked(keyFingerprint: "key-1"))
    }

    @Test func aRevokedIdStaysRevokedAgainstFreshTokens() {
        var policy = Self.policy()
        _ = policy.handle(.enrollmentRequested(Fixture.attestation(at: 0), site: .home, rekey: false), now: 0)
        _ = policy.handle(.operatorRevoke(Fixture.node, reason: "stolen"), now: 5)
        let fresh = Fixture.attestation(key: "key-2", at: 10)
        #expect(
            policy.handle(.enrollmentRequested(fresh, site: .home, rekey: false), now: 10) == [
                .refuseEnrollment(Fixture.node, .revokedNode)
            ])
        #expect(policy.state(of: Fixture.node) == .revoked)
        // The old key never comes back, not even through a re-key.
        #expect(policy.enrollmentRefusal(for: Fixture.attestation(at: 20), rekey: true) == .revokedKey)
        // Only an explicit re-key brings the id back, under a new key.
        #expect(policy.handle(.enrollmentRequested(fresh, site: .home, rekey: true), now: 30).first?.isIssue == true)
        #expect(policy.state(of: Fixture.node) == .trusted)
    }

    @Test func anAttestedOrDataCentreIdNeedsARekeyEvenTheFirstTime() {
        var policy = Self.policy(protected: [Fixture.node])
        #expect(
            policy.handle(.enrollmentRequested(Fixture.attestation(at: 0), site: .home, rekey: false), now: 0)
                == [.refuseEnrollment(Fixture.node, .protectedIdentity)])
        #expect(policy.nodes[Fixture.node] == nil)
        #expect(
            policy.handle(.enrollmentRequested(Fixture.attestation(at: 1), site: .dataCentre, rekey: true), now: 1).first?.isIssue == true)
    }

    @Test func aNodeIsNotQuarantinedForSilenceBeforeItsFirstHello() {
        var policy = Self.policy()
        _ = policy.handle(.enrollmentRequested(Fixture.attestation(at: 0), site: .home, rekey: false), now: 0)
        // Its engine takes a minute to load on a busy machine: no hello, no quarantine.
        #expect(policy.handle(.tick, now: 60).isEmpty)
        #expect(policy.state(of: Fixture.node) == .trusted)
        // Once it said hello, silence counts: 3 × 5 s.
        _ = policy.handle(.hello(Fixture.node), now: 61)
        #expect(policy.handle(.tick, now: 76).isEmpty)
        #expect(policy.handle(.tick, now: 76.5).first == .quarantine(Fixture.node, .missedHeartbeats))
    }
}

@Suite struct AuditThrottleTests {
    @Test func tenThousandRefusalsInAWindowMakeOneRowAndTheNextRowCountsThem() {
        var throttle = AuditThrottle(windowSeconds: 60, maximumKeys: 4)
        var rows = 0
        for call in 0..<10_000 where throttle.record("enrollment-refused", now: Double(call) / 1000) != nil { rows += 1 }
        #expect(rows == 1)
        #expect(throttle.record("enrollment-refused", now: 61) == 9_999)
        #expect(throttle.record("enrollment-refused", now: 62) == nil)
    }

    @Test func keysAreBoundedAndExpiredOnesMakeRoom() {
        var throttle = AuditThrottle(windowSeconds: 10, maximumKeys: 2)
        #expect(throttle.record("a", now: 0) == 0)
        #expect(throttle.record("b", now: 0) == 0)
        // Full: a third key within the window is folded, not remembered.
        #expect(throttle.record("c", now: 1) == nil)
        #expect(throttle.trackedKeys == 2)
        #expect(throttle.record("c", now: 11) == 0)
        #expect(throttle.trackedKeys <= 2)
    }
}

extension NodeTrustPolicy.Action {
    fileprivate var isIssue: Bool {
        if case .issueCertificate = self { return true }
        return false
    }
}
