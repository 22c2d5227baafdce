import HearthCore
import Logging
import Synchronization

/// The gateway's shell around ``NodeConduct``: every provable lie a node tells is logged and counted
/// (`hearth_node_lies_total{lie}`); past the threshold the node is quarantined for misbehaviour, through the trust
/// policy when the gateway has node identities (persisted, audited, lifted only by an operator), or else taken out
/// of this gateway's service until it restarts.
final class NodeConductMonitor: Sendable {
    private let conduct: Mutex<NodeConduct>
    private let scheduler: FleetScheduler
    private let metrics: GatewayMetrics
    private let logger: Logger
    private let identity: Mutex<GatewayIdentity?> = Mutex(nil)

    init(conduct: NodeConduct = NodeConduct(), scheduler: FleetScheduler, metrics: GatewayMetrics, logger: Logger) {
        self.conduct = Mutex(conduct)
        self.scheduler = scheduler
        self.metrics = metrics
        self.logger = logger
    }

    func attach(_ identity: GatewayIdentity?) { self.identity.withLock { $0 = identity } }

    /// Records `lie` by `node`; the stream it was told on has already been failed by the caller.
    func lied(_ node: NodeID, _ lie: AnswerAudit.Lie, detail: String = "") {
        metrics.nodeLie(lie.rawValue)
        let verdict = conduct.withLock { $0.lied(node, lie.rawValue, now: scheduler.now) }
        logger.warning(
            "node lied", metadata: ["node": "\(node)", "lie": "\(lie.rawValue)", "detail": "\(detail)", "verdict": "\(verdict)"])
        guard case .quarantine(let reason) = verdict else { return }
        scheduler.setTrusted(node, false)
        guard let identity = identity.withLock({ $0 }) else { return }
        Task { await identity.misbehaved(node, detail: reason) }
    }

    func strikes(of node: NodeID) -> Int { conduct.withLock { $0.strikes(of: node, now: scheduler.now) } }
}
