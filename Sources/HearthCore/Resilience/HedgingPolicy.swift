/// When to hedge a request's first token: send it to a second node when the scheduler's prediction says the
/// TTFT target is at risk on the first, at the latest moment the second can still make the target, and cancel
/// the loser at the first token (``HedgeRace``). Hedges spend the gateway's ``RetryBudget`` like retries.
public struct HedgingPolicy: Sendable, Hashable {
    /// Off by default: turn on per deployment after measuring (``HedgeRace/Outcome`` counts).
    public var enabled: Bool
    /// Classes that may be hedged. Default chat, document, code (never batch).
    public var classes: Set<TaskClass>
    /// Hedge when the primary's predicted TTFT margin, (target − elapsed − predicted) / target, is below this.
    /// Default 0.1.
    public var riskMargin: Double
    /// The hedge is launched this fraction of the way to the latest useful moment. Default 0.5.
    public var delayFraction: Double
    /// Data classes that may be hedged (a hedge doubles the nodes that see the prompt). Default all.
    public var dataClasses: Set<DataClass>

    public init(
        enabled: Bool = false, classes: Set<TaskClass> = [.chat, .document, .code], riskMargin: Double = 0.1, delayFraction: Double = 0.5,
        dataClasses: Set<DataClass> = Set(DataClass.allCases)
    ) {
        self.enabled = enabled
        self.classes = classes
        self.riskMargin = riskMargin
        self.delayFraction = min(max(delayFraction, 0), 1)
        self.dataClasses = dataClasses
    }

    /// The decision for one placed request: launch a hedge at `launchAt` unless the first token came first.
    public struct Plan: Sendable, Hashable {
        public var launchAt: Double
        /// Primary's predicted margin when planned (for metrics).
        public var primaryMargin: Double

        public init(launchAt: Double, primaryMargin: Double) {
            self.launchAt = launchAt
            self.primaryMargin = primaryMargin
        }
    }

    /// - `ttftTarget`: the class target for this prompt (`ClassTargets[taskClass].ttftTarget(promptTokens:)`).
    /// - `primaryTTFT`: the placement's predicted TTFT; `secondaryTTFT`: the predicted TTFT on the best other
    ///   eligible node (schedule again with the primary excluded), nil when there is none.
    public func plan(
        taskClass: TaskClass, dataClass: DataClass, arrival: Double, ttftTarget: Double, primaryTTFT: Double, secondaryTTFT: Double?,
        now: Double
    ) -> Plan? {
        guard enabled, classes.contains(taskClass), dataClasses.contains(dataClass), let secondaryTTFT, ttftTarget > 0 else { return nil }
        let elapsed = max(0, now - arrival)
        let margin = (ttftTarget - elapsed - primaryTTFT) / ttftTarget
        guard margin < riskMargin else { return nil }
        // Latest moment a hedge can still meet the target; none → a hedge cannot pay off.
        let latest = ttftTarget - elapsed - secondaryTTFT
        guard latest >= 0, secondaryTTFT < primaryTTFT else { return nil }
        return Plan(launchAt: now + latest * delayFraction, primaryMargin: margin)
    }
}

/// One hedged request's race: a value-type state machine. Feed it timer ticks, launches, first tokens and
/// failures; perform its actions.
public struct HedgeRace: Sendable {
    public enum Event: Sendable, Hashable {
        /// Periodic or at ``HedgingPolicy/Plan/launchAt``.
        case tick
        /// The gateway launched the hedge on `node` (after the retry budget and scheduler agreed).
        case hedgeLaunched(NodeID)
        /// The gateway could not launch it (no budget or no node): the primary runs alone.
        case hedgeNotLaunched
        case firstToken(NodeID)
        case failed(NodeID)
    }

    public enum Action: Sendable, Hashable {
        /// Take a retry token and place the request again with the primary excluded.
        case launchHedge
        /// Stop this node's attempt (the loser).
        case cancel(NodeID)
        /// Relay this node's stream to the client from now on.
        case commit(NodeID)
        /// Every attempt failed before a first token: hand over to ``StreamMigration``.
        case allFailed
    }

    public enum Outcome: Sendable, Hashable {
        case running
        case primaryWithoutHedge
        case primaryWon
        case hedgeWon
        case failed
    }

    public let primary: NodeID
    public let plan: HedgingPolicy.Plan?
    public private(set) var hedge: NodeID?
    public private(set) var winner: NodeID?
    public private(set) var outcome: Outcome = .running
    private var launchRequested = false
    private var failed: Set<NodeID> = []

    public init(primary: NodeID, plan: HedgingPolicy.Plan?) {
        self.primary = primary
        self.plan = plan
    }

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        switch event {
        case .tick:
            guard winner == nil, !launchRequested, outcome == .running, let plan, now >= plan.launchAt else { return [] }
            launchRequested = true
            return [.launchHedge]
        case .hedgeLaunched(let node):
            guard winner == nil, outcome == .running else { return [.cancel(node)] }
            hedge = node
            return []
        case .hedgeNotLaunched:
            return []
        case .firstToken(let node):
            guard winner == nil else { return node == winner ? [] : [.cancel(node)] }
            guard node == primary || node == hedge else { return [.cancel(node)] }
            winner = node
            outcome = node == primary ? (hedge == nil ? .primaryWithoutHedge : .primaryWon) : .hedgeWon
            var actions: [Action] = [.commit(node)]
            let loser = node == primary ? hedge : primary
            if let loser, !failed.contains(loser) { actions.append(.cancel(loser)) }
            return actions
        case .failed(let node):
            failed.insert(node)
            guard winner == nil else { return [] }
            let alive = [primary, hedge].compactMap { $0 }.filter { !failed.contains($0) }
            guard alive.isEmpty else { return [] }
            outcome = .failed
            return [.allFailed]
        }
    }
}
