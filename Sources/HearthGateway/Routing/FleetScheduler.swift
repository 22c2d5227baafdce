package import HearthCore
import HearthProtocol
import Synchronization

/// The gateway's shell around HearthCore's ``Scheduler``: it keeps a ``FleetState`` in step with
/// the registry (joins, leaves, requests started and finished) and asks the scheduler for every
/// request. The scheduler itself is the same pure code the simulator runs.
package final class FleetScheduler: Sendable {
    private struct Outstanding {
        var requests = 0
        var promptTokens = 0
    }

    private struct State {
        var fleet = FleetState()
        var scheduler: Scheduler
        var outstanding: [NodeID: Outstanding] = [:]
        var slots: [NodeID: Int] = [:]
        var observations: [NodeID: [CalibrationSample]] = [:]
    }

    private let state: Mutex<State>
    private let queued = Mutex<(count: Int, waiters: [(Int, CheckedContinuation<Void, Never>)])>((0, []))
    private let epoch = ContinuousClock.now
    /// Completed requests per node between profile refits from observed timings.
    static let refitEvery = 16

    package init(policy: SchedulingPolicyKind = .sloAware, configuration: SchedulerConfiguration = SchedulerConfiguration()) {
        state = Mutex(State(scheduler: Scheduler(policy: policy, configuration: configuration)))
    }

    /// Seconds since this gateway started: the scheduler's clock.
    package var now: Double { (ContinuousClock.now - epoch).seconds }

    package var policy: SchedulingPolicyKind { state.withLock { $0.scheduler.kind } }

    func nodeJoined(_ hello: NodeHello) {
        let profiles = hello.models.map { model in
            hello.profiles?.first { $0.model == model.id } ?? Self.assumedProfile(model: model.id, slots: hello.slots)
        }
        let snapshot = NodeSnapshot(
            id: hello.nodeID,
            models: hello.models,
            profiles: profiles.map { profile in
                var profile = profile
                profile.maxBatch = hello.slots
                return profile
            },
            load: NodeLoad(asOf: now),
            prefixCache: PrefixCache(capacity: 4096)
        )
        state.withLock { state in
            state.fleet.upsert(snapshot)
            state.outstanding[hello.nodeID] = Outstanding()
            state.slots[hello.nodeID] = hello.slots
            state.observations[hello.nodeID] = []
        }
    }

    func nodeLeft(_ id: NodeID) {
        state.withLock { state in
            state.fleet.remove(id)
            state.outstanding[id] = nil
            state.slots[id] = nil
            state.observations[id] = nil
        }
    }

    /// A node that reported no profile: a conservative CPU-class guess, refined as answers come back.
    static func assumedProfile(model: String, slots: Int) -> NodeProfile {
        NodeProfile(
            model: model, prefillTokensPerSecond: 500, prefillOverheadSeconds: 0.01, decodeBaseSeconds: 0.03,
            decodePerSequenceSeconds: 0.005, maxBatch: slots, linkRTTSeconds: 0)
    }

    /// Decides where `request` goes; a placement reserves the node until ``finished(_:promptTokens:)``.
    /// `excluding`: nodes this request must not go to (they already failed it).
    package func decide(_ request: SchedulingRequest, excluding: Set<NodeID> = []) -> SchedulingDecision {
        let decision = state.withLock { state in
            let now = self.now
            var request = request
            request.arrival = now
            let saved = state.scheduler.configuration.filters
            if !excluding.isEmpty { state.scheduler.configuration.filters = saved + [ExcludeNodesFilter(excluding)] }
            let decision = state.scheduler.decide(request, fleet: state.fleet, now: now)
            state.scheduler.configuration.filters = saved
            if case .place(let placement) = decision {
                state.outstanding[placement.node, default: Outstanding()].requests += 1
                state.outstanding[placement.node, default: Outstanding()].promptTokens += request.promptTokens
                Self.publishLoad(of: placement.node, in: &state, now: now)
                if let key = request.affinityKey { state.fleet.recordPrefix([key], at: placement.nodeIndex) }
            }
            return decision
        }
        if case .queue = decision { countQueued() }
        return decision
    }

    private func countQueued() {
        let ready = queued.withLock { queued in
            queued.count += 1
            let count = queued.count
            let ready = queued.waiters.filter { $0.0 <= count }.map(\.1)
            queued.waiters.removeAll { $0.0 <= count }
            return ready
        }
        for waiter in ready { waiter.resume() }
    }

    /// Returns once `count` decisions so far were "queue" (operators see them in metrics; tests await them).
    package func waitUntilQueued(_ count: Int) async {
        await withCheckedContinuation { continuation in
            let done = queued.withLock { queued in
                if queued.count >= count { return true }
                queued.waiters.append((count, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// A placed request ended; `observed` refines the node's profile from what it really took.
    package func finished(_ node: NodeID, promptTokens: Int, model: String, observed: CalibrationSample?) {
        state.withLock { state in
            guard state.outstanding[node] != nil else { return }
            state.outstanding[node]!.requests = max(0, state.outstanding[node]!.requests - 1)
            state.outstanding[node]!.promptTokens = max(0, state.outstanding[node]!.promptTokens - promptTokens)
            Self.publishLoad(of: node, in: &state, now: now)
            guard let observed else { return }
            state.observations[node, default: []].append(observed)
            guard let samples = state.observations[node], samples.count >= Self.refitEvery,
                let index = state.fleet.index(of: node)
            else { return }
            state.observations[node] = []
            var snapshot = state.fleet.snapshot(at: index)
            guard let current = snapshot.profile(for: model),
                var refined = NodeProfile.fit(model: model, samples: samples, maxBatch: current.maxBatch)
            else { return }
            refined.powerCapFactor = current.powerCapFactor
            snapshot.profiles = snapshot.profiles.map { $0.model == model ? refined : $0 }
            state.fleet.upsert(snapshot)
        }
    }

    /// Applies a node's reported power state: whether it admits (the policies skip a node that does not), its
    /// `power-state` label, and its GPU cap's slowdown on its profiles (a capped GPU decodes slower).
    /// Returns whether the node admits now.
    @discardableResult
    package func applyPower(_ node: NodeID, mode: PowerGovernor.Mode, capFraction: Double) -> Bool {
        state.withLock { state in
            guard let index = state.fleet.index(of: node) else { return false }
            if state.fleet.labels(at: index)[PowerCapFilter.labelKey] != mode.rawValue {
                var snapshot = state.fleet.snapshot(at: index)
                snapshot.labels[PowerCapFilter.labelKey] = mode.rawValue
                state.fleet.upsert(snapshot)
            }
            let fraction = capFraction.isFinite ? min(1, max(0.05, capFraction)) : 0.05
            state.fleet.setPowerCapFactor(GPUPowerCurve.schedulerFactor(capFraction: fraction), at: index)
            var load = state.fleet.loads[index]
            load.isAdmitting = mode.isAdmitting
            state.fleet.setLoad(load, at: index)
            return mode.isAdmitting
        }
    }

    /// Marks `node` as (not) taking new work until its next power report says otherwise.
    package func setAdmitting(_ node: NodeID, _ admitting: Bool) {
        state.withLock { state in
            guard let index = state.fleet.index(of: node) else { return }
            var load = state.fleet.loads[index]
            load.isAdmitting = admitting
            state.fleet.setLoad(load, at: index)
        }
    }

    /// Whether the scheduler may place new work on `node` now (power state).
    package func isAdmitting(_ node: NodeID) -> Bool {
        state.withLock { state in state.fleet.index(of: node).map { state.fleet.loads[$0].isAdmitting } ?? false }
    }

    /// Sequences running on `node` as the scheduler counts them (placed, not yet finished, up to its slots).
    package func runningSequences(on node: NodeID) -> Int {
        state.withLock { state in state.fleet.index(of: node).map { state.fleet.loads[$0].runningSequences } ?? 0 }
    }

    /// The profile the scheduler holds for `node` and `model` now.
    package func profile(of node: NodeID, model: String) -> NodeProfile? {
        state.withLock { state in
            state.fleet.index(of: node).flatMap { state.fleet.snapshot(at: $0).profile(for: model) }
        }
    }

    private static func publishLoad(of node: NodeID, in state: inout State, now: Double) {
        guard let index = state.fleet.index(of: node), let outstanding = state.outstanding[node] else { return }
        let slots = state.slots[node] ?? 1
        let running = min(outstanding.requests, slots)
        let waiting = outstanding.requests - running
        let profile = state.fleet.snapshot(at: index).profiles.first
        let averagePrompt = outstanding.requests > 0 ? outstanding.promptTokens / outstanding.requests : 0
        // Prefill still ahead: the waiting requests' prompts (running ones are assumed past prefill).
        let backlog = profile.map { Double(waiting * averagePrompt) / $0.prefillTokensPerSecond } ?? 0
        var load = state.fleet.loads[index]
        load.runningSequences = running
        load.waitingSequences = waiting
        load.prefillBacklogSeconds = backlog
        // A full node frees a slot when one of its running answers ends: without per-request progress,
        // assume a typical answer's time spread evenly over the slots.
        load.nextSlotFreeSeconds =
            running < slots
            ? 0
            : profile.map { Double($0.typicalOutputTokens) * $0.decodeStepSeconds(batch: running) / Double(slots) } ?? 0
        load.asOf = now
        state.fleet.setLoad(load, at: index)
    }
}
