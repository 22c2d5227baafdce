/// Settings of a ``Scheduler``; every field has a documented default.
public struct SchedulerConfiguration: Sendable {
    public var targets: ClassTargets
    /// Most candidates a decision evaluates. Pools no larger are scanned whole; larger ones are sampled
    /// through a window that rotates between decisions (plus the request's affinity home), which keeps a
    /// decision O(maxCandidates) at any fleet size, like power-of-d-choices load balancing.
    public var maxCandidates: Int
    /// Bounded-load factor c of prefix-affinity: a node takes the request only if its utilisation stays
    /// within c × the pool's mean (Mirrokni, Thorup, Zadimoghaddam, 2018).
    public var boundedLoadFactor: Double
    /// `batch` requests go only to nodes whose slots in use plus waiting stay below this fraction of their slots.
    public var batchSpareFraction: Double
    /// Extra hard constraints, applied after the built-in ones.
    public var filters: [any NodeFilter]
    /// Longest a best-effort request waits at the gateway for a slot (counted from its arrival) before it is
    /// refused. Default 30 s: what a client of an ordinary, busy server would wait.
    public var bestEffortQueueSeconds: Double

    public init(
        targets: ClassTargets = .default, maxCandidates: Int = 256, boundedLoadFactor: Double = 1.25,
        batchSpareFraction: Double = 0.5, filters: [any NodeFilter] = [], bestEffortQueueSeconds: Double = 30
    ) {
        self.bestEffortQueueSeconds = bestEffortQueueSeconds
        self.targets = targets
        self.maxCandidates = max(1, maxCandidates)
        self.boundedLoadFactor = boundedLoadFactor
        self.batchSpareFraction = batchSpareFraction
        self.filters = filters
    }
}
