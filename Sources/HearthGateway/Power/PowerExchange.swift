package import HearthCore
package import HearthProtocol

/// How gateway replicas that share a fleet share its power decisions (issue 14): every replica publishes the power
/// reports of the nodes connected to it; one replica at a time, the coordinator, allocates the transformers and the
/// grid's events over the whole fleet and publishes each node's limit; every replica sends its nodes theirs. So two
/// replicas never both hand out a transformer's whole budget, and a node on two replicas gets one limit.
///
/// Writes carry the store's clock, not the writer's, and readers read only what was written since their last read
/// (``IncrementalView``), so that the traffic grows with what changes rather than with the fleet.
package protocol PowerExchange: Sendable {
    /// Publishes the reports of nodes connected to this replica (those that changed, or are due a refresh).
    func publish(reports: [(key: NodeID, value: NodePowerReport)]) async throws
    /// The limits the coordinator published for `nodes` since `since` (store time; nil: whenever), with the time of
    /// each write, and the store's clock at the read.
    func limits(for nodes: [NodeID], since: Double?) async throws -> (rows: [(key: NodeID, value: PowerLimit, at: Double)], clock: Double)
    /// Takes the coordinator's lease if no replica holds it and runs `body` while it holds it; returns false at once
    /// when another replica holds it. The lease ends with `body`, or when its hold on the store breaks (then the
    /// session's calls fail, so a replica that lost the lease can publish nothing more).
    func coordinate(_ body: (any PowerCoordinatorSession) async throws -> Void) async throws -> Bool
}

/// What the coordinator does while it holds the lease, on the lease's own hold on the store.
package protocol PowerCoordinatorSession: Sendable {
    /// The reports any replica published since `since` (store time; nil: every one written within `lifetime`
    /// seconds), with the time of each write, and the store's clock at the read.
    func reports(since: Double?, lifetime: Double) async throws -> (
        rows: [(key: NodeID, value: NodePowerReport, at: Double)], clock: Double
    )
    /// Publishes limits (those that changed since this coordinator last published them).
    func publish(limits: [(key: NodeID, value: PowerLimit)]) async throws
}
