public import Foundation
public import HearthCore

/// The operator's software measurement decisions: staged roll-outs of agent, engine and model releases.
extension GatewayIdentity {
    /// A measurement as operators see it: whether nodes may run it, why, and which connected or enrolled nodes do.
    public struct MeasurementStanding: Sendable, Equatable {
        public var digest: String
        public var allowed: Bool
        /// `configured`, `approved`, `retired` or `learned` (trust on enrollment).
        public var source: String
        public var label: String?
        public var decidedAt: Date?
        public var nodes: [NodeID]
    }

    /// How often a replica reads the other replicas' decisions from a shared store, seconds.
    static let measurementDecisionReadSeconds = 5.0

    /// Approves or retires `digest` for every node of the fleet: stored (shared with replicas), audited, and applied to
    /// renewals and enrollments at once. Retiring quarantines nodes still running it at their next renewal.
    public func decideMeasurement(_ decision: MeasurementApprovals.Decision, digest: String, label: String, actor: String) async throws {
        let digest = digest.lowercased()
        guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else {
            throw Failure.refused("a software measurement is 64 hex digits (SHA-256 of agent:engine:model)")
        }
        let label = String(label.prefix(256))
        try await store.decideMeasurement(.init(digest: digest, decision: decision, label: label, at: now))
        let allowed = approvals.withLock { approvals in
            approvals.decide(decision, digest)
            return approvals.allowed
        }
        _ = policy.withLock { $0.handle(.allowedMeasurementsChanged(allowed), now: now) }
        try await audit(actor: actor, action: "measurement-\(decision.rawValue)", node: nil, detail: "\(digest) \(label)")
    }

    /// Every measurement the gateway knows of: configured, decided, or run by an enrolled node.
    public func measurements() async throws -> [MeasurementStanding] {
        let decisions = try await store.measurementDecisions()
        let rows = try await store.nodes().filter { $0.state != .revoked }
        let current = approvals.withLock { $0 }
        var latest: [String: IdentityStore.MeasurementDecision] = [:]
        for decision in decisions { latest[decision.digest] = decision }
        let digests = current.configured.union(latest.keys).union(current.learned).union(rows.map(\.attestation.measurement.digest))
        return digests.sorted().map { digest in
            let decision = latest[digest]
            let source =
                decision?.decision.rawValue
                ?? (current.configured.contains(digest) ? "configured" : current.learned.contains(digest) ? "learned" : "unapproved")
            return MeasurementStanding(
                digest: digest, allowed: current.allowed.contains(digest), source: source, label: decision?.label,
                decidedAt: decision.map { Date(timeIntervalSince1970: $0.at) },
                nodes: rows.filter { $0.attestation.measurement.digest == digest }.map(\.node).sorted { $0.rawValue < $1.rawValue })
        }
    }

    /// On a shared store, takes the decisions other replicas made (at most every few seconds).
    func readOtherReplicasMeasurementDecisions() async {
        guard store.isShared else { return }
        let time = Date()
        let due = approvalsReadAt.withLock { last in
            guard last.map({ time.timeIntervalSince($0) >= Self.measurementDecisionReadSeconds }) ?? true else { return false }
            last = time
            return true
        }
        guard due, let decisions = try? await store.measurementDecisions() else { return }
        let allowed = approvals.withLock { approvals -> Set<String>? in
            let before = approvals.allowed
            approvals.replaceDecisions(decisions.map { ($0.digest, $0.decision) })
            return approvals.allowed == before ? nil : approvals.allowed
        }
        if let allowed { _ = policy.withLock { $0.handle(.allowedMeasurementsChanged(allowed), now: now) } }
    }
}
