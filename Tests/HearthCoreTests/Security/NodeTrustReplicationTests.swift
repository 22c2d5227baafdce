import HearthCore
import Testing

/// Issue 14: gateway replicas share one store; a replica takes the records another one wrote (``NodeTrustPolicy``'s
/// `replicated` events) and does only its local part: close the node's tunnel, relabel it. Never a second revocation,
/// audit row or certificate.
@Suite struct NodeTrustReplicationTests {
    typealias Fixtures = NodeTrustPolicyTests
    static let node = Fixtures.node

    static func hasSideEffects(_ actions: [NodeTrustPolicy.Action]) -> Bool {
        actions.contains { action in
            switch action {
            case .closeTunnel, .failOverInFlight, .updateLabels: false
            default: true
            }
        }
    }

    @Test func aNodeEnrolledOnAnotherReplicaIsKnownHereAndIssuedNothing() {
        var policy = NodeTrustPolicy()
        let actions = policy.handle(.replicated(Fixtures.attestation(at: 0), site: .home, state: .trusted, quarantineReason: nil), now: 5)
        #expect(policy.state(of: Self.node) == .trusted)
        #expect(!Self.hasSideEffects(actions))
        #expect(!actions.contains(.closeTunnel(Self.node)), "a node new here has no tunnel to close")
        #expect(policy.enrollmentRefusal(for: Fixtures.attestation(at: 0), rekey: false) == .alreadyEnrolled)
    }

    @Test func aRevocationOnAnotherReplicaClosesTheTunnelHereAndRefusesTheKey() {
        var policy = Fixtures.enrolled()
        let keys = policy.handle(
            .replicatedRevocations([RevocationEntry(node: Self.node, keyFingerprint: "key-1", reason: "operator: stolen", at: 9)]), now: 10)
        #expect(keys.isEmpty)
        #expect(policy.isRevoked(keyFingerprint: "key-1"))
        let actions = policy.handle(.replicated(Fixtures.attestation(at: 0), site: .home, state: .revoked, quarantineReason: nil), now: 10)
        #expect(policy.state(of: Self.node) == .revoked)
        #expect(actions.contains(.closeTunnel(Self.node)) && actions.contains(.failOverInFlight(Self.node)))
        #expect(!Self.hasSideEffects(actions))
        #expect(policy.revocations.count == 1, "taken once, not revoked again here")
        // The same record again (this replica's own notification, or a resync) changes nothing.
        #expect(
            policy.handle(.replicated(Fixtures.attestation(at: 0), site: .home, state: .revoked, quarantineReason: nil), now: 11).isEmpty)
        _ = policy.handle(
            .replicatedRevocations([RevocationEntry(node: Self.node, keyFingerprint: "key-1", reason: "operator: stolen", at: 9)]), now: 11)
        #expect(policy.revocations.count == 1)
    }

    @Test func aStaleRecordCannotBringARevokedKeyBack() {
        var policy = Fixtures.enrolled()
        _ = policy.handle(.operatorRevoke(Self.node, reason: "stolen"), now: 10)
        // Another replica's write from before the revocation, read after it.
        let stale = policy.handle(.replicated(Fixtures.attestation(at: 0), site: .home, state: .trusted, quarantineReason: nil), now: 11)
        #expect(stale.isEmpty)
        #expect(policy.state(of: Self.node) == .revoked)
        // The operator's re-key on another replica: a new key replaces the record.
        _ = policy.handle(
            .replicated(Fixtures.attestation(key: "key-2", at: 20), site: .home, state: .trusted, quarantineReason: nil), now: 20)
        #expect(policy.state(of: Self.node) == .trusted)
    }

    @Test func aQuarantineAndItsReleaseFollowTheStore() {
        var policy = Fixtures.enrolled()
        _ = policy.handle(.hello(Self.node), now: 1)
        let quarantined = policy.handle(
            .replicated(Fixtures.attestation(at: 0), site: .home, state: .quarantined, quarantineReason: .operatorAction), now: 20)
        #expect(policy.state(of: Self.node) == .quarantined)
        #expect(quarantined.contains(.failOverInFlight(Self.node)))
        #expect(!Self.hasSideEffects(quarantined))
        let released = policy.handle(.replicated(Fixtures.attestation(at: 0), site: .home, state: .trusted, quarantineReason: nil), now: 30)
        #expect(policy.state(of: Self.node) == .trusted)
        #expect(released == [.updateLabels(Self.node, policy.labels(for: Self.node))])
        // Released at 30: silence is counted from then, not from the node's last heartbeat (1) before the quarantine.
        #expect(policy.handle(.tick, now: 40).isEmpty)
    }

    @Test func anotherReplicasMissedHeartbeatQuarantineIsItsOwnView() {
        var policy = Fixtures.enrolled()
        let actions = policy.handle(
            .replicated(Fixtures.attestation(at: 0), site: .home, state: .quarantined, quarantineReason: .missedHeartbeats), now: 60)
        #expect(actions.isEmpty, "the node's tunnel moved away from that replica; here it may be heard fine")
        #expect(policy.state(of: Self.node) == .trusted)
    }

    @Test func aNewKeyFromAnotherReplicasRekeyClosesTheOldKeysTunnel() {
        var policy = Fixtures.enrolled()
        let actions = policy.handle(
            .replicated(Fixtures.attestation(key: "key-2", at: 50), site: .home, state: .trusted, quarantineReason: nil), now: 50)
        #expect(actions.contains(.closeTunnel(Self.node)))
        #expect(policy.nodes[Self.node]?.keyFingerprint == "key-2")
        #expect(!Self.hasSideEffects(actions))
    }
}
