/// Baseline: each model's eligible nodes in turn, blind to load and targets.
public struct RoundRobinPolicy: SchedulingPolicy {
    private var cursors: [String: Int] = [:]

    public init() {}

    public var kind: SchedulingPolicyKind { .roundRobin }
    public var enforcesTargets: Bool { false }

    public mutating func choose(_ request: SchedulingRequest, in pool: ModelPool, fleet: FleetState, context: PolicyContext) -> Candidate? {
        let start = cursors[pool.model, default: 0]
        let n = pool.count
        for step in 0..<min(n, context.configuration.maxCandidates) {
            let slot = (start + step) % n
            if context.isEligible(request, slot: slot, in: pool, fleet: fleet) {
                cursors[pool.model] = (slot + 1) % n
                return context.candidate(request, slot: slot, in: pool, fleet: fleet, reason: .roundRobin)
            }
        }
        return nil
    }
}
