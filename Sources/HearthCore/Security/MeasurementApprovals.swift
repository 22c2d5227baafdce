/// Which software measurements (agent + engine + model digests, ``SoftwareMeasurement/digest``) nodes may run, as the
/// operator manages them per release: a staged roll-out approves the new release's digest before nodes upgrade (each
/// renews with it and stays trusted), and retires the old one once they have (a node still on it is quarantined at its
/// next renewal, and none enrolls with it).
///
/// - `configured`: the gateway's fixed list (`GatewayConfiguration`); empty means trust on enrollment: each node's
///   digest at enrollment is `learned`.
/// - `approved`, `retired`: the operator's decisions (kept in the identity store, shared by replicas). A retirement
///   beats every other source; the latest decision about a digest is the one that holds.
public struct MeasurementApprovals: Sendable, Equatable {
    public var configured: Set<String>
    public private(set) var approved: Set<String> = []
    public private(set) var retired: Set<String> = []
    public private(set) var learned: Set<String> = []

    public init(configured: Set<String>) {
        self.configured = configured
    }

    /// Whether a node's digest at enrollment becomes allowed (no fixed list configured).
    public var learnsOnEnrollment: Bool { configured.isEmpty }

    /// What renewals are checked against (``NodeTrustPolicy/Configuration/allowedMeasurements``).
    public var allowed: Set<String> {
        configured.union(approved).union(learnsOnEnrollment ? learned : []).subtracting(retired)
    }

    /// Whether a node may enroll running this software.
    public func mayEnroll(_ digest: String) -> Bool {
        !retired.contains(digest) && (learnsOnEnrollment || allowed.contains(digest))
    }

    /// Why a node running `digest` may not enroll; nil when it may.
    public func enrollmentRefusal(_ digest: String) -> String? {
        if retired.contains(digest) { return "software measurement \(digest.prefix(64)) is retired" }
        return mayEnroll(digest) ? nil : "software measurement \(digest.prefix(64)) is not approved"
    }

    /// A node enrolled (here or on another replica) running `digest`.
    public mutating func enrolled(_ digest: String) {
        if learnsOnEnrollment, !retired.contains(digest) { learned.insert(digest) }
    }

    public enum Decision: String, Sendable, Hashable, CaseIterable {
        case approved, retired
    }

    public mutating func decide(_ decision: Decision, _ digest: String) {
        switch decision {
        case .approved:
            retired.remove(digest)
            approved.insert(digest)
        case .retired:
            approved.remove(digest)
            learned.remove(digest)
            retired.insert(digest)
        }
    }

    /// Every stored decision again (another replica's included), in the order they were made.
    public mutating func replaceDecisions(_ decisions: [(digest: String, decision: Decision)]) {
        approved = []
        retired = []
        for (digest, decision) in decisions { decide(decision, digest) }
    }
}
