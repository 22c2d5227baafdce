package import HearthCore

/// Picks a node for a request from the registry's candidates, or explains why none fits.
package protocol RequestRouter: Sendable {
    func route(_ request: CompletionRequest, taskClass: String, candidates: [NodeRegistry.Candidate]) -> RoutingDecision
}

package enum RoutingDecision: Sendable, Equatable {
    case node(NodeID, reason: String)
    /// No node can take it now; retry after the given seconds. `overloaded` means nodes exist but are full (429), otherwise 503.
    case refuse(reason: String, retryAfterSeconds: Int, overloaded: Bool)
}

/// Least outstanding requests among nodes that serve the model; ties go to the lowest node id so
/// decisions are reproducible. Refuses with 429 when every node has `queueFactor × slots` requests.
package struct LeastOutstandingRouter: RequestRouter {
    package var queueFactor: Int

    package init(queueFactor: Int = 8) {
        self.queueFactor = queueFactor
    }

    package func route(_ request: CompletionRequest, taskClass: String, candidates: [NodeRegistry.Candidate]) -> RoutingDecision {
        var best: NodeRegistry.Candidate?
        for candidate in candidates where candidate.outstanding < candidate.slots * queueFactor {
            if let current = best,
                (current.outstanding * candidate.slots, current.id) <= (candidate.outstanding * current.slots, candidate.id)
            {
                continue
            }
            best = candidate
        }
        if let best {
            return .node(best.id, reason: "least-outstanding: \(best.outstanding)/\(best.slots) busy")
        }
        return .refuse(
            reason: "all \(candidates.count) nodes serving \(request.model) are at their queue limit",
            retryAfterSeconds: 1,
            overloaded: true
        )
    }
}
