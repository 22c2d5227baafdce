/// Chooses a node for each request, or queues or refuses it: the one scheduler the gateway and the simulator share.
///
/// A value-type state machine: it holds only the policy's own state (cursors) and the sampling window;
/// the fleet, the clock and the request come in, a ``SchedulingDecision`` comes out. No I/O, no clock.
///
/// Admission control (for policies that ``SchedulingPolicy/enforcesTargets``, i.e. `slo-aware`):
/// - no node serves the model, or none is eligible → `.refuse(nil, …)`;
/// - even an idle eligible node would miss the TTFT target → `.refuse(nil, .targetUnreachable)`;
/// - the best candidate misses its targets but the request can still make its TTFT target if capacity
///   frees (`now < arrival + target − best idle TTFT`) → `.queue(until:)`; the caller asks again as capacity frees;
/// - otherwise → `.refuse(retryAfterSeconds:)` with the best candidate's predicted queueing time (≥ 1 s).
/// - `batch` requests are placed only on spare capacity and otherwise queue until their (minutes-long) deadline.
/// - A ``SLOPolicy/bestEffort`` request is not refused for a target no node can meet: it is placed with reason
///   ``DecisionReason/bestEffort(predictedTTFT:target:)`` where a slot is free, and refused only for contention or
///   after a bounded wait (see `bestEffort(_:candidate:placement:pool:fleet:target:now:)`).
public struct Scheduler: Sendable {
    public var configuration: SchedulerConfiguration
    public private(set) var policy: any SchedulingPolicy
    private var windowCursor = 0

    public init(policy: SchedulingPolicyKind = .sloAware, configuration: SchedulerConfiguration = SchedulerConfiguration()) {
        self.policy = policy.makePolicy()
        self.configuration = configuration
    }

    public init(policy: any SchedulingPolicy, configuration: SchedulerConfiguration = SchedulerConfiguration()) {
        self.policy = policy
        self.configuration = configuration
    }

    public var kind: SchedulingPolicyKind { policy.kind }

    public mutating func decide(_ request: SchedulingRequest, fleet: FleetState, now: Double) -> SchedulingDecision {
        guard let poolIndex = fleet.poolIndex(for: request.model) else {
            return .refuse(retryAfterSeconds: nil, reason: .noNodeServesModel(request.model))
        }
        let pool = fleet.pool(at: poolIndex)
        let context = PolicyContext(now: now, configuration: configuration, windowStart: windowCursor)
        if pool.count > configuration.maxCandidates {
            // Rotate by a stride coprime with most pool sizes so successive decisions sample different nodes.
            windowCursor = (windowCursor &+ configuration.maxCandidates / 2 &+ 1) % pool.count
        }
        guard let candidate = policy.choose(request, in: pool, fleet: fleet, context: context) else {
            if request.taskClass == .batch && policy.enforcesTargets {
                return batchQueue(request, now: now)
            }
            return .refuse(retryAfterSeconds: nil, reason: .noEligibleNode)
        }
        let placement = Placement(
            node: fleet.ids[candidate.nodeIndex], nodeIndex: candidate.nodeIndex, prediction: candidate.prediction,
            reason: candidate.reason)
        guard policy.enforcesTargets, candidate.margin < 0 else { return .place(placement) }
        if request.taskClass == .batch { return .place(placement) }

        let target = configuration.targets[request.taskClass].ttftTarget(promptTokens: request.promptTokens)
        if request.sloPolicy == .bestEffort {
            return bestEffort(request, candidate: candidate, placement: placement, pool: pool, fleet: fleet, target: target, now: now)
        }
        if candidate.bestIdleTTFT > target {
            return .refuse(retryAfterSeconds: nil, reason: .targetUnreachable(bestIdleTTFT: candidate.bestIdleTTFT, target: target))
        }
        let deadline = request.arrival + target - candidate.bestIdleTTFT
        if now < deadline {
            return .queue(until: deadline, reason: .waitingForCapacity(bestPredictedTTFT: candidate.prediction.ttftSeconds, target: target))
        }
        return .refuse(
            retryAfterSeconds: max(1, candidate.prediction.queueSeconds.rounded(.up)),
            reason: .queueDeadlinePassed(bestPredictedTTFT: candidate.prediction.ttftSeconds, target: target))
    }

    /// A request whose targets will be missed, served like an ordinary server's: while the target can still be met
    /// once capacity frees, it queues for that as a strict one would; otherwise it goes to the chosen node if that
    /// node has a free slot and admitting it keeps the requests already there within their decode target (or they
    /// already missed it without this one); else it waits for that, up to ``SchedulerConfiguration/bestEffortQueueSeconds``.
    private func bestEffort(
        _ request: SchedulingRequest, candidate: Candidate, placement: Placement, pool: ModelPool, fleet: FleetState, target: Double,
        now: Double
    ) -> SchedulingDecision {
        if candidate.bestIdleTTFT <= target, now < request.arrival + target - candidate.bestIdleTTFT {
            return .queue(
                until: request.arrival + target - candidate.bestIdleTTFT,
                reason: .waitingForCapacity(bestPredictedTTFT: candidate.prediction.ttftSeconds, target: target))
        }
        let load = fleet.loads[candidate.nodeIndex]
        let profile = pool.profiles[candidate.slot]
        let running = load.runningSequences + load.waitingSequences
        let engine = SimulatedEngineModel(profile: profile)
        let tpotTarget = configuration.targets[request.taskClass].tpotSeconds
        let pushesOthersPastTarget =
            running > 0 && engine.interTokenSeconds(batchSize: min(profile.maxBatch, running + 1)) > tpotTarget
            && engine.interTokenSeconds(batchSize: min(profile.maxBatch, running)) <= tpotTarget
        if running < profile.maxBatch && !pushesOthersPastTarget {
            var placement = placement
            placement.reason = .bestEffort(predictedTTFT: candidate.prediction.ttftSeconds, target: target)
            return .place(placement)
        }
        let deadline = request.arrival + configuration.bestEffortQueueSeconds
        if now < deadline { return .queue(until: deadline, reason: .bestEffortWaitsForSlot) }
        return .refuse(retryAfterSeconds: max(1, candidate.prediction.queueSeconds.rounded(.up)), reason: .bestEffortQueueFull)
    }

    private func batchQueue(_ request: SchedulingRequest, now: Double) -> SchedulingDecision {
        let deadline = request.arrival + configuration.targets.batch.ttftSeconds
        if now < deadline { return .queue(until: deadline, reason: .batchWaitsForSpareCapacity) }
        return .refuse(retryAfterSeconds: 60, reason: .batchWaitsForSpareCapacity)
    }
}
