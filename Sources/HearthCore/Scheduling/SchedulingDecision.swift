/// The scheduler's answer for one request.
///
/// The gateway maps it at its edge: `.place` → forward (and put the node and class in `X-Hearth-Node` /
/// `X-Hearth-Class`); `.queue` → hold the request and ask again when capacity frees, until `until`;
/// `.refuse` with a `retryAfterSeconds` → 429 with `Retry-After`; `.refuse` without one → 503 (or 404 for
/// ``DecisionReason/noNodeServesModel(_:)``).
public enum SchedulingDecision: Sendable, Hashable {
    case place(Placement)
    case queue(until: Double, reason: DecisionReason)
    case refuse(retryAfterSeconds: Double?, reason: DecisionReason)

    public var reason: DecisionReason {
        switch self {
        case .place(let placement): placement.reason
        case .queue(_, let reason): reason
        case .refuse(_, let reason): reason
        }
    }

    /// The placement, if the decision is `.place`.
    public var placement: Placement? {
        if case .place(let placement) = self { return placement }
        return nil
    }
}

/// Where a request goes and what the performance model expects there.
public struct Placement: Sendable, Hashable {
    public var node: NodeID
    /// The node's index in the ``FleetState`` the decision was made on.
    public var nodeIndex: Int
    public var prediction: Prediction
    public var reason: DecisionReason

    public init(node: NodeID, nodeIndex: Int, prediction: Prediction, reason: DecisionReason) {
        self.node = node
        self.nodeIndex = nodeIndex
        self.prediction = prediction
        self.reason = reason
    }
}

/// Why the scheduler decided as it did; rendered for logs and headers by `description`.
public enum DecisionReason: Sendable, Hashable, CustomStringConvertible {
    case bestMargin(margin: Double)
    case sessionAffinity(cachedTokens: Int, margin: Double)
    case roundRobin
    case leastLoaded(utilisation: Double)
    case prefixAffinity(probes: Int)
    case spareCapacity
    /// An idle node whose profile no answer has confirmed yet, which would meet the targets if the profile were as
    /// wrong as calibration on a busy machine can make it (``SLOAwarePolicy/explorationOptimism``): a pessimistic
    /// profile that another node always outscores would otherwise never meet the answers that correct it.
    case exploring(hopedMargin: Double)
    case noNodeServesModel(String)
    case noEligibleNode
    case targetUnreachable(bestIdleTTFT: Double, target: Double)
    case waitingForCapacity(bestPredictedTTFT: Double, target: Double)
    case queueDeadlinePassed(bestPredictedTTFT: Double, target: Double)
    case batchWaitsForSpareCapacity
    /// Placed although its targets will be missed (``SLOPolicy/bestEffort``): the predicted TTFT and the target.
    case bestEffort(predictedTTFT: Double, target: Double)
    /// A best-effort request waits for a slot (or for admitted requests to stop needing the node's speed).
    case bestEffortWaitsForSlot
    /// A best-effort request waited its bounded time and no slot freed.
    case bestEffortQueueFull

    /// Whether a placement was made knowing the targets will be missed.
    public var isBestEffort: Bool {
        if case .bestEffort = self { return true }
        return false
    }

    public var description: String {
        func ms(_ seconds: Double) -> String { "\(Int((seconds * 1000).rounded())) ms" }
        switch self {
        case .bestMargin(let margin): return "best predicted SLO margin (\(Int((margin * 100).rounded()))%)"
        case .sessionAffinity(let cached, let margin):
            return "session affinity: \(cached) prompt tokens cached, target still met (margin \(Int((margin * 100).rounded()))%)"
        case .roundRobin: return "round robin"
        case .leastLoaded(let utilisation): return "least loaded (\(Int((utilisation * 100).rounded()))% of slots)"
        case .prefixAffinity(let probes):
            return probes == 0 ? "prefix affinity (home node)" : "prefix affinity (home full, probe \(probes))"
        case .spareCapacity: return "batch on spare capacity"
        case .exploring(let margin):
            return
                "exploring: no answer has confirmed this idle node's profile yet (margin if it is \(Int(SLOAwarePolicy.explorationOptimism))× too slow: \(Int((margin * 100).rounded()))%)"
        case .noNodeServesModel(let model): return "no node serves model \(model)"
        case .noEligibleNode: return "no eligible node (none admitting with enough context)"
        case .targetUnreachable(let ttft, let target):
            return "no node can meet the TTFT target even when idle (best \(ms(ttft)), target \(ms(target)))"
        case .waitingForCapacity(let ttft, let target):
            return "queued: best node predicts TTFT \(ms(ttft)) over target \(ms(target))"
        case .queueDeadlinePassed(let ttft, let target):
            return "fleet saturated: best node predicts TTFT \(ms(ttft)), target \(ms(target))"
        case .batchWaitsForSpareCapacity: return "batch waits for spare capacity"
        case .bestEffort(let ttft, let target):
            return "best effort: predicted TTFT \(ms(ttft)) over target \(ms(target)), served anyway"
        case .bestEffortWaitsForSlot: return "best effort: waiting for a free slot"
        case .bestEffortQueueFull: return "best effort: no slot freed within the queue limit"
        }
    }
}
