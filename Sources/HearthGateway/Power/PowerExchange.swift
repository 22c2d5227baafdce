import HearthCore
import HearthProtocol

/// How gateway replicas that share a fleet share its power decisions (issue 14): every replica publishes the power
/// reports of the nodes connected to it; one replica at a time, the coordinator, allocates the transformers and the
/// grid's events over the whole fleet and publishes each node's limit; every replica sends its nodes theirs. So two
/// replicas never both hand out a transformer's whole budget, and a node on two replicas gets one limit.
protocol PowerExchange: Sendable {
    /// Publishes the latest reports of the nodes connected to this replica (Unix seconds `at`).
    func publish(reports: [(node: NodeID, report: NodePowerReport)], at: Double) async throws
    /// The limits the coordinator published for `nodes` (those without one are absent).
    func limits(for nodes: [NodeID]) async throws -> [NodeID: PowerLimit]
    /// Takes the coordinator's lease if no replica holds it and runs `body` while it holds it; returns false at once
    /// when another replica holds it. The lease ends with `body`, or when its hold on the store breaks (then the
    /// session's calls fail, so a replica that lost the lease can publish nothing more).
    func coordinate(_ body: (any PowerCoordinatorSession) async throws -> Void) async throws -> Bool
}

/// What the coordinator does while it holds the lease, on the lease's own hold on the store.
protocol PowerCoordinatorSession: Sendable {
    /// Every node's report published since `since` (Unix seconds), by any replica: the fleet that draws now.
    func reports(since: Double) async throws -> [(node: NodeID, report: NodePowerReport)]
    /// Publishes the fleet's limits (Unix seconds `at`).
    func publish(limits: [(node: NodeID, limit: PowerLimit)], at: Double) async throws
}
