package import HearthCore
package import HearthProtocol
import Synchronization

/// The gateway's shell around HearthCore's ``Scheduler``: it keeps a ``FleetState`` in step with
/// the registry (joins, leaves, requests started and finished) and asks the scheduler for every
/// request. The scheduler itself is the same pure code the simulator runs.
package final class FleetScheduler: Sendable {
    private struct Outstanding {
        var requests = 0
        var promptTokens = 0
        /// Streams the node reports running for other gateway replicas: they hold its slots as much as ours do.
        var elsewhere = 0
    }

    private struct State {
        var fleet = FleetState()
        var scheduler: Scheduler
        var outstanding: [NodeID: Outstanding] = [:]
        var slots: [NodeID: Int] = [:]
        /// Each connected node's refit state per model (HearthCore's ``ProfileRefitter``): this shell feeds it answers
        /// and installs the profiles it returns.
        var refitters: [NodeID: [String: ProfileRefitter]] = [:]
        /// What each node's declared hardware can do at most: its profiles never promise more.
        var bounds: [NodeID: HardwareBounds] = [:]
        /// Profiles refitted from answers, per node and model: kept across reconnects, so a node cannot shed what its
        /// answers showed by dialling again with a faster claim.
        var refitted: [NodeID: [String: NodeProfile]] = [:]
        /// Answers timed since each node joined; its profile counts as confirmed (not explored) after
        /// ``answersToConfirm``.
        var answersSinceJoin: [NodeID: Int] = [:]
        /// Nodes the trust policy took out of service (quarantined, revoked); power reports cannot bring them back.
        var untrusted: Set<NodeID> = []
        /// Whether each node's power allows work.
        var powerAdmits: [NodeID: Bool] = [:]
        /// Nodes whose engine reported unhealthy in their last heartbeat.
        var engineDown: Set<NodeID> = []
        /// Nodes whose own link measurement says to drain them (they finish what they run).
        var linkDegraded: Set<NodeID> = []
        /// Which tenants run on each node: the batch-isolation state (admitted at placement, released with
        /// the reservation).
        var occupancy = TenantOccupancy()
        /// Labels the gateway assigned (trust state, tamper events): kept across reconnects, so a node never
        /// sheds its tamper history by dialling again.
        var assignedLabels: [NodeID: [String: String]] = [:]
        /// Bumped at every join: a claim from an earlier connection of the node releases nothing.
        var epochs: [NodeID: UInt64] = [:]
        /// Nodes whose engine showed at join that it keeps cache partitions apart (``NodeHello/engineHonoursCacheSalt``):
        /// only they reuse a partition's prompt cache, so only their placements are remembered as cached prefixes.
        var cachingNodes: Set<NodeID> = []
    }

    /// One placed request's place in ``TenantOccupancy``; hand it back with ``finished(_:promptTokens:model:observed:claim:)``.
    package struct OccupancyClaim: Sendable, Equatable {
        package var tenant: String
        package var dataClass: DataClass
        package var node: NodeID
        fileprivate var epoch: UInt64
    }

    private let state: Mutex<State>
    private let queued = Mutex<(count: Int, waiters: [(Int, CheckedContinuation<Void, Never>)])>((0, []))
    private let epoch = ContinuousClock.now
    private let attestedNodes: Set<NodeID>
    private let dataCentreNodes: Set<NodeID>
    private let isolationWaitSeconds: Double
    /// Completed requests per node between profile refits from observed timings while the profile holds (a drift
    /// refits sooner: see ``ProfileRefitter``).
    package static let refitEvery = ProfileRefitter.Configuration().refitEvery
    /// Timed answers after which a node's profile counts as confirmed and the SLO-aware policy stops exploring it:
    /// as many as the refitter needs to see a drift, so a profile that was wrong has been corrected by then.
    package static let answersToConfirm = max(1, (ProfileRefitter.Configuration().driftSamples + 1) / 2)

    /// - Parameters:
    ///   - attestedNodes: nodes labelled `attestation=confidential-computing` (see ``GatewayConfiguration/attestedNodes``).
    ///   - dataCentreNodes: nodes labelled `site=data-centre`.
    ///   - isolationWaitSeconds: how long a request kept off every node by another tenant's isolated work (or an
    ///     isolated request kept off by other tenants) waits for one to free before it is refused.
    package init(
        policy: SchedulingPolicyKind = .sloAware, configuration: SchedulerConfiguration = SchedulerConfiguration(),
        attestedNodes: Set<NodeID> = [], dataCentreNodes: Set<NodeID> = [], isolationWaitSeconds: Double = 30
    ) {
        state = Mutex(State(scheduler: Scheduler(policy: policy, configuration: configuration)))
        self.attestedNodes = attestedNodes
        self.dataCentreNodes = dataCentreNodes
        self.isolationWaitSeconds = isolationWaitSeconds
    }

    /// The labels the security filters read for `node`: what the gateway assigned, with `attestation` and `site`
    /// only from this gateway's configuration (a node's own claim to either counts for nothing).
    private func securityLabels(of node: NodeID, assigned: [String: String]) -> [String: String] {
        var labels = assigned
        labels[SecurityLabels.attestation] = attestedNodes.contains(node) ? SecurityLabels.confidentialComputing : nil
        labels[SecurityLabels.site] = dataCentreNodes.contains(node) ? SecurityLabels.dataCentre : nil
        return labels
    }

    /// Sets gateway-assigned labels on `node` (`trust-state`, `last-tamper-at`, from the trust policy's
    /// `.updateLabels` action); an empty value removes a label. `attestation` and `site` are ignored here: they
    /// come from the configuration. Labels outlive the node's connection.
    package func updateLabels(_ node: NodeID, _ labels: [String: String]) {
        state.withLock { state in
            var assigned = state.assignedLabels[node] ?? [:]
            for (key, value) in labels where key != SecurityLabels.attestation && key != SecurityLabels.site {
                assigned[key] = value.isEmpty ? nil : value
            }
            state.assignedLabels[node] = assigned
            guard let index = state.fleet.index(of: node) else { return }
            var labels = state.fleet.labels(at: index)
            for key in labels.keys where key != PowerCapFilter.labelKey { labels[key] = nil }
            labels.merge(securityLabels(of: node, assigned: assigned)) { _, new in new }
            state.fleet.setLabels(labels, at: index)
        }
    }

    /// The labels the scheduler holds for `node` now (nil when it is not connected).
    package func labels(of node: NodeID) -> [String: String]? {
        state.withLock { state in state.fleet.index(of: node).map { state.fleet.labels(at: $0) } }
    }

    /// Tenants with requests placed on `node` and not yet finished.
    package func tenants(on node: NodeID) -> Set<String> {
        state.withLock { $0.occupancy.tenants(on: node) }
    }

    /// Seconds since this gateway started: the scheduler's clock.
    package var now: Double { (ContinuousClock.now - epoch).seconds }

    package var policy: SchedulingPolicyKind { state.withLock { $0.scheduler.kind } }

    func nodeJoined(_ hello: NodeHello) {
        let bounds = HardwareBounds(gpuNames: hello.hardware.gpus, cpuCores: hello.hardware.cpuCores)
        let refitted = state.withLock { $0.refitted[hello.nodeID] ?? [:] }
        let profiles = hello.models.map { model in
            let claimed = hello.profiles?.first { $0.model == model.id } ?? Self.assumedProfile(model: model.id, slots: hello.slots)
            // What its answers showed, when they showed anything, and never faster than its hardware.
            var profile = refitted[model.id] ?? claimed
            profile.linkRTTSeconds = claimed.linkRTTSeconds
            return profile.clamped(to: bounds)
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
            prefixCache: PrefixCache(capacity: 4096),
            // A profile its answers already refitted is confirmed; one fresh from calibration is explored while idle.
            profileUnconfirmed: refitted.isEmpty
        )
        state.withLock { state in
            var snapshot = snapshot
            snapshot.labels = securityLabels(of: hello.nodeID, assigned: state.assignedLabels[hello.nodeID] ?? [:])
            state.occupancy.removeNode(hello.nodeID)
            state.epochs[hello.nodeID, default: 0] &+= 1
            if state.untrusted.contains(hello.nodeID) { snapshot.load.isAdmitting = false }
            state.fleet.upsert(snapshot)
            state.outstanding[hello.nodeID] = Outstanding()
            state.slots[hello.nodeID] = hello.slots
            state.refitters[hello.nodeID] = [:]
            state.answersSinceJoin[hello.nodeID] = 0
            state.bounds[hello.nodeID] = bounds
            if hello.engineHonoursCacheSalt {
                state.cachingNodes.insert(hello.nodeID)
            } else {
                state.cachingNodes.remove(hello.nodeID)
            }
        }
    }

    func nodeLeft(_ id: NodeID) {
        state.withLock { state in
            state.fleet.remove(id)
            state.occupancy.removeNode(id)
            state.outstanding[id] = nil
            state.slots[id] = nil
            state.refitters[id] = nil
            state.answersSinceJoin[id] = nil
            state.bounds[id] = nil
            state.cachingNodes.remove(id)
            // Per connection: a node that comes back starts admitting and its heartbeats say again what is wrong.
            state.engineDown.remove(id)
            state.linkDegraded.remove(id)
        }
    }

    /// A node that reported no profile: a conservative CPU-class guess, refined as answers come back.
    static func assumedProfile(model: String, slots: Int) -> NodeProfile {
        NodeProfile(
            model: model, prefillTokensPerSecond: 500, prefillOverheadSeconds: 0.01, decodeBaseSeconds: 0.03,
            decodePerSequenceSeconds: 0.005, maxBatch: slots, linkRTTSeconds: 0)
    }

    /// Decides where `request` goes under `security` (trust state, data class, tenant batch isolation, exclusions:
    /// HearthCore's `Scheduler.decide(_:security:fleet:now:)` with this gateway's ``TenantOccupancy``).
    /// A placement reserves the node and admits the tenant there until ``finished(_:promptTokens:model:observed:claim:)``
    /// with the returned claim. `excluding`: nodes this request must not go to (they already failed it).
    ///
    /// A request that only other tenants' isolation keeps off every node (a node runs one tenant's isolated work,
    /// or any mix of `standard` work) is queued for up to `isolationWaitSeconds`: it waits for a node to free.
    /// Where `request` would go now and what it would take there, without reserving anything: a hedge's second
    /// opinion. Nil when no node outside `excluding` would take it at once.
    package func preview(_ request: SchedulingRequest, security: RequestSecurity, excluding: Set<NodeID>) -> Placement? {
        state.withLock { state in
            var security = security
            security.excludedNodes.formUnion(excluding)
            security.occupancy = state.occupancy
            var scheduler = state.scheduler  // a copy: a policy's own state (round robin) must not advance
            var request = request
            request.arrival = now
            guard case .place(let placement) = scheduler.decide(request, security: security, fleet: state.fleet, now: now) else {
                return nil
            }
            return placement
        }
    }

    /// The TTFT target of `request`'s class for its prompt.
    package func ttftTarget(for request: SchedulingRequest) -> Double {
        state.withLock { $0.scheduler.configuration.targets[request.taskClass].ttftTarget(promptTokens: request.promptTokens) }
    }

    package func decide(
        _ request: SchedulingRequest, security: RequestSecurity, excluding: Set<NodeID> = []
    ) -> (decision: SchedulingDecision, claim: OccupancyClaim?) {
        let result = state.withLock { state -> (SchedulingDecision, OccupancyClaim?) in
            let now = self.now
            var request = request
            request.arrival = now
            var security = security
            security.excludedNodes.formUnion(excluding)
            security.occupancy = state.occupancy
            var decision = state.scheduler.decide(request, security: security, fleet: state.fleet, now: now)
            if case .refuse(nil, .noEligibleNode) = decision {
                var unoccupied = security
                unoccupied.occupancy = TenantOccupancy()
                if case .place = state.scheduler.decide(request, security: unoccupied, fleet: state.fleet, now: now) {
                    decision = .queue(until: now + isolationWaitSeconds, reason: .noEligibleNode)
                }
            }
            guard case .place(let placement) = decision else { return (decision, nil) }
            guard state.occupancy.admit(tenant: security.tenant, dataClass: security.dataClass, on: placement.node) else {
                // Cannot happen under this lock (the filter saw the same occupancy); refuse rather than mix tenants.
                return (.refuse(retryAfterSeconds: 1, reason: .noEligibleNode), nil)
            }
            state.outstanding[placement.node, default: Outstanding()].requests += 1
            state.outstanding[placement.node, default: Outstanding()].promptTokens += request.promptTokens
            Self.publishLoad(of: placement.node, in: &state, now: now)
            Self.remember(request, at: placement, in: &state)
            let claim = OccupancyClaim(
                tenant: security.tenant, dataClass: security.dataClass, node: placement.node, epoch: state.epochs[placement.node] ?? 0)
            return (decision, claim)
        }
        if case .queue = result.0 { countQueued() }
        return result
    }

    /// What the node will hold once it has prefilled `request` (the simulator records the same at prefill): its session,
    /// so that the conversation's next turn comes back, and, where the engine reuses the partition's prompt cache, its
    /// prefix blocks, so that the next request sharing them (a system prompt, a document) is routed here and predicted
    /// with them cached. The hashes are the partition-salted ones, and ``PrefixCache`` bounds what a node remembers
    /// (least recently used out).
    private static func remember(_ request: SchedulingRequest, at placement: Placement, in state: inout State) {
        if let session = request.sessionKey { state.fleet.recordPrefix([session], at: placement.nodeIndex) }
        // Elsewhere the engine prefills every prompt afresh: a remembered block would promise a hit that never comes.
        guard state.cachingNodes.contains(placement.node) else { return }
        state.fleet.recordPrefix(request.prefixHashes, at: placement.nodeIndex)
    }

    /// Whether any connected node serving `model` meets `dataClass`'s node requirements (trust, tamper window,
    /// attestation), whatever its load: false means a refusal is the data class's, not capacity's.
    package func hasNode(for dataClass: DataClass, model: String, cleanWindowSeconds: Double) -> Bool {
        state.withLock { state in
            let now = self.now
            let filter = DataClassFilter(dataClass: dataClass, cleanWindowSeconds: cleanWindowSeconds)
            return (0..<state.fleet.count).contains { index in
                let labels = state.fleet.labels(at: index)
                let trusted = labels[SecurityLabels.trustState].map { $0 == NodeTrustPolicy.TrustState.trusted.rawValue } ?? true
                return trusted && filter.admits(labels: labels, now: now)
                    && state.fleet.snapshot(at: index).models.contains { $0.id == model }
            }
        }
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

    /// Decisions so far that were "queue".
    package var queuedDecisions: Int { queued.withLock { $0.count } }

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

    /// A placed request ended; `observed` refines the node's profile from what it really took, and `claim` (from
    /// ``decide(_:security:excluding:)``) releases the tenant's place on the node.
    ///
    /// The node's ``ProfileRefitter`` for `model` decides when the profile is refitted and to what: every
    /// ``refitEvery`` samples, sooner when the answers drift from the profile's predictions, held within the node's
    /// ``HardwareBounds``; samples resting on the node's own figures (``AnswerTiming/isClaimed``) may only slow the
    /// profile down: only the gateway's clock can find a node faster than it was thought.
    package func finished(
        _ node: NodeID, promptTokens: Int, model: String, observed: AnswerTiming?, claim: OccupancyClaim? = nil
    ) {
        state.withLock { state in
            if let claim, claim.node == node, state.epochs[node] == claim.epoch {
                state.occupancy.release(tenant: claim.tenant, dataClass: claim.dataClass, on: node)
            }
            guard state.outstanding[node] != nil else { return }
            state.outstanding[node]!.requests = max(0, state.outstanding[node]!.requests - 1)
            state.outstanding[node]!.promptTokens = max(0, state.outstanding[node]!.promptTokens - promptTokens)
            Self.publishLoad(of: node, in: &state, now: now)
            guard let observed, let index = state.fleet.index(of: node), let current = state.fleet.profile(at: index, for: model)
            else { return }
            if observed.sample != nil, state.fleet.isProfileUnconfirmed(at: index) {
                let answers = state.answersSinceJoin[node, default: 0] + 1
                state.answersSinceJoin[node] = answers
                if answers >= Self.answersToConfirm { state.fleet.setProfileUnconfirmed(false, at: index) }
            }
            let fresh = ProfileRefitter(bounds: state.bounds[node])
            guard let refined = state.refitters[node, default: [:]][model, default: fresh].observe(observed, current: current) else {
                return
            }
            // Kept without the power cap of the moment: the next power report sets that.
            var kept = refined
            kept.powerCapFactor = 1
            state.refitted[node, default: [:]][model] = kept
            state.fleet.setProfile(refined, at: index)
        }
    }

    /// Applies a node's reported power state: whether it admits (the policies skip a node that does not), its
    /// `power-state` label, and its GPU cap's slowdown on its profiles (a capped GPU decodes slower).
    /// Returns whether the node admits now.
    @discardableResult
    package func applyPower(_ node: NodeID, mode: PowerGovernor.Mode, capFraction: Double) -> Bool {
        state.withLock { state in
            guard let index = state.fleet.index(of: node) else { return false }
            var labels = state.fleet.labels(at: index)
            if labels[PowerCapFilter.labelKey] != mode.rawValue {
                labels[PowerCapFilter.labelKey] = mode.rawValue
                state.fleet.setLabels(labels, at: index)
            }
            let fraction = capFraction.isFinite ? min(1, max(0.05, capFraction)) : 0.05
            state.fleet.setPowerCapFactor(GPUPowerCurve.schedulerFactor(capFraction: fraction), at: index)
            state.powerAdmits[node] = mode.isAdmitting
            let admitting = Self.admits(node, in: state)
            var load = state.fleet.loads[index]
            load.isAdmitting = admitting
            state.fleet.setLoad(load, at: index)
            return admitting
        }
    }

    /// Takes a node out of service (or puts it back) for trust reasons, whatever its power state says.
    package func setTrusted(_ node: NodeID, _ trusted: Bool) {
        state.withLock { state in
            if trusted { state.untrusted.remove(node) } else { state.untrusted.insert(node) }
            Self.refreshAdmitting(node, in: &state)
        }
    }

    /// Records whether the node's engine answers; a node with a dead engine gets no new work until it does.
    package func setEngineHealthy(_ node: NodeID, _ healthy: Bool) {
        state.withLock { state in
            let changed = healthy ? state.engineDown.remove(node) != nil : state.engineDown.insert(node).inserted
            if changed { Self.refreshAdmitting(node, in: &state) }
        }
    }

    /// A node takes new work when its power allows, it is trusted, its engine is up and its link is not degraded.
    private static func admits(_ node: NodeID, in state: State) -> Bool {
        (state.powerAdmits[node] ?? true) && !state.untrusted.contains(node) && !state.engineDown.contains(node)
            && !state.linkDegraded.contains(node)
    }

    /// A node's link report: its measured round trip goes into every profile's prediction (clamped, since the node
    /// could claim anything, to 0…10 s), and a degraded link drains the node.
    package func applyLink(_ node: NodeID, _ link: LinkReport) {
        state.withLock { state in
            let changed = link.degraded ? state.linkDegraded.insert(node).inserted : state.linkDegraded.remove(node) != nil
            if changed { Self.refreshAdmitting(node, in: &state) }
            guard let milliseconds = link.rttMilliseconds, milliseconds.isFinite, let index = state.fleet.index(of: node) else { return }
            let seconds = min(10, max(0, milliseconds / 1000))
            guard state.fleet.profiles(at: index).contains(where: { abs($0.linkRTTSeconds - seconds) > 0.001 }) else { return }
            state.fleet.setLinkRTT(seconds, at: index)
        }
    }

    /// The streams `node` last reported running for other gateways (a node on several replicas): counted in its load,
    /// so that every replica's scheduler sees the node's whole occupancy. Returns whether the node's load fell (a
    /// queued request may fit now).
    @discardableResult
    package func applyStreamsElsewhere(_ node: NodeID, _ streams: Int) -> Bool {
        state.withLock { state in
            guard state.outstanding[node] != nil else { return false }
            let streams = max(0, streams)
            let before = state.outstanding[node]!.elsewhere
            guard streams != before else { return false }
            state.outstanding[node]!.elsewhere = streams
            Self.publishLoad(of: node, in: &state, now: now)
            return streams < before
        }
    }

    /// The link round trip the scheduler predicts with for `node` (its first profile's).
    package func linkRTTSeconds(of node: NodeID) -> Double? {
        state.withLock { state in state.fleet.index(of: node).flatMap { state.fleet.profiles(at: $0).first?.linkRTTSeconds } }
    }

    private static func refreshAdmitting(_ node: NodeID, in state: inout State) {
        guard let index = state.fleet.index(of: node) else { return }
        var load = state.fleet.loads[index]
        load.isAdmitting = admits(node, in: state)
        state.fleet.setLoad(load, at: index)
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
            state.fleet.index(of: node).flatMap { state.fleet.profile(at: $0, for: model) }
        }
    }

    private static func publishLoad(of node: NodeID, in state: inout State, now: Double) {
        guard let index = state.fleet.index(of: node), let outstanding = state.outstanding[node] else { return }
        let slots = state.slots[node] ?? 1
        let requests = outstanding.requests + outstanding.elsewhere
        let running = min(requests, slots)
        let waiting = requests - running
        let profile = state.fleet.profiles(at: index).first
        // Other replicas' prompts are unknown here: taken to be like ours.
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
