/// The policies Hearth ships, by their configuration names.
public enum SchedulingPolicyKind: String, Sendable, Hashable, Codable, CaseIterable {
    case roundRobin = "round-robin"
    case leastLoaded = "least-loaded"
    case prefixAffinity = "prefix-affinity"
    case sloAware = "slo-aware"

    /// A fresh policy of this kind.
    public func makePolicy() -> any SchedulingPolicy {
        switch self {
        case .roundRobin: RoundRobinPolicy()
        case .leastLoaded: LeastLoadedPolicy()
        case .prefixAffinity: PrefixAffinityPolicy()
        case .sloAware: SLOAwarePolicy()
        }
    }
}

/// One node a policy proposes, with what the performance model expects there.
public struct Candidate: Sendable, Hashable {
    /// Position in the ``ModelPool``.
    public var slot: Int
    public var nodeIndex: Int
    public var prediction: Prediction
    /// min over TTFT and TPOT of (target − predicted) / target; ≥ 0 means the targets are met.
    public var margin: Double
    public var reason: DecisionReason
    /// The lowest TTFT any evaluated candidate would give on an idle node (for admission control).
    public var bestIdleTTFT: Double

    public init(slot: Int, nodeIndex: Int, prediction: Prediction, margin: Double, reason: DecisionReason, bestIdleTTFT: Double) {
        self.slot = slot
        self.nodeIndex = nodeIndex
        self.prediction = prediction
        self.margin = margin
        self.reason = reason
        self.bestIdleTTFT = bestIdleTTFT
    }
}

/// What a policy may read while choosing: the clock, the targets and the eligibility rules.
public struct PolicyContext: Sendable {
    public var now: Double
    public var configuration: SchedulerConfiguration
    /// Where the sampling window starts in pools larger than `maxCandidates`.
    public var windowStart: Int

    public init(now: Double, configuration: SchedulerConfiguration, windowStart: Int) {
        self.now = now
        self.configuration = configuration
        self.windowStart = windowStart
    }

    /// The built-in filters (admitting, context fits) and the configured ones.
    @inlinable
    public func isEligible(_ request: SchedulingRequest, slot: Int, in pool: ModelPool, fleet: FleetState) -> Bool {
        let index = pool.nodeIndices[slot]
        guard fleet.loads[index].isAdmitting else { return false }
        guard request.promptTokens + request.maxOutputTokens <= pool.contextTokens[slot] else { return false }
        if configuration.filters.isEmpty { return true }
        for filter in configuration.filters where !filter.admits(request, nodeAt: index, in: fleet) { return false }
        return true
    }

    /// Pool positions to evaluate: all of them, or `maxCandidates` from the rotating window.
    @inlinable
    public func window(poolCount: Int) -> (start: Int, length: Int) {
        let length = min(poolCount, configuration.maxCandidates)
        return (length == poolCount ? 0 : windowStart % poolCount, length)
    }

    /// Margin of a prediction against the request's class targets, as a share of the targets.
    @inlinable
    public func margin(_ prediction: Prediction, for request: SchedulingRequest) -> Double {
        let slo = configuration.targets[request.taskClass]
        // Time already spent queued at the gateway counts against the TTFT target.
        let ttftTarget = slo.ttftTarget(promptTokens: request.promptTokens)
        let remaining = ttftTarget - max(0, now - request.arrival)
        let ttftMargin = (remaining - prediction.ttftSeconds) / ttftTarget
        let tpotMargin = (slo.tpotSeconds - prediction.tpotSeconds) / slo.tpotSeconds
        return min(ttftMargin, tpotMargin)
    }

    @inlinable
    public func candidate(
        _ request: SchedulingRequest, slot: Int, in pool: ModelPool, fleet: FleetState, reason: DecisionReason
    ) -> Candidate {
        let index = pool.nodeIndices[slot]
        let prediction = PerformanceModel.predict(request, fleet: fleet, nodeIndex: index, profile: pool.profiles[slot], now: now)
        let idle = prediction.ttftSeconds - prediction.queueSeconds
        return Candidate(
            slot: slot, nodeIndex: index, prediction: prediction, margin: margin(prediction, for: request), reason: reason,
            bestIdleTTFT: idle)
    }
}

/// A way of choosing a node for a request among a model's pool.
///
/// A policy proposes one eligible candidate (or none); the ``Scheduler`` then places it, or, for policies
/// that ``enforcesTargets``, applies admission control when the candidate would miss its targets.
public protocol SchedulingPolicy: Sendable {
    var kind: SchedulingPolicyKind { get }
    /// Whether the scheduler may queue or refuse this policy's candidate when it misses its targets.
    var enforcesTargets: Bool { get }
    mutating func choose(_ request: SchedulingRequest, in pool: ModelPool, fleet: FleetState, context: PolicyContext) -> Candidate?
}
