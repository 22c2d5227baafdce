package import HearthCore
package import HearthProtocol
import Synchronization

/// The live fleet as this gateway sees it: registered node sessions, kept in step with the scheduler.
package final class NodeRegistry: Sendable {
    package enum Event: Sendable, Equatable {
        case registered(NodeID)
        case removed(NodeID, reason: String)
    }

    private struct Entry {
        var session: NodeSession
    }

    private struct State {
        var entries: [NodeID: Entry] = [:]
        var capacityWaiters: [CapacitySignal] = []
        var energySink: (@Sendable (NodeID, [EnergyInterval]) -> Void)?
    }

    private let state = Mutex(State())
    private let changes = Broadcast<Event>()
    private let reports = Broadcast<PowerReport>()
    private let beats = Broadcast<(NodeID, NodeHeartbeat)>()

    /// One node's power report, as ``powerReports()`` hands it out.
    package typealias PowerReport = (NodeID, NodePowerReport)
    /// The scheduler's view of this fleet, kept in step with joins and leaves.
    package let scheduler: FleetScheduler
    /// Where sessions report the lies their nodes tell (nil: not watched, in tests that drive a registry alone).
    let conduct: NodeConductMonitor?

    init(scheduler: FleetScheduler = FleetScheduler(), conduct: NodeConductMonitor? = nil) {
        self.scheduler = scheduler
        self.conduct = conduct
    }

    /// A signal that fires at the next release or join; see ``CapacitySignal``.
    func capacityChanges() -> CapacitySignal {
        let signal = CapacitySignal()
        state.withLock { $0.capacityWaiters.append(signal) }
        return signal
    }

    private func fireCapacity() {
        let waiters = state.withLock { state in
            defer { state.capacityWaiters.removeAll() }
            return state.capacityWaiters
        }
        for waiter in waiters { waiter.fire() }
    }

    /// Whether any registered node (admitting or not) serves `model`.
    package func serves(_ model: String) -> Bool {
        state.withLock { $0.entries.values.contains { $0.session.hello.models.contains { $0.id == model } } }
    }

    /// Adds a session. A node that reconnects before its old tunnel was noticed dead replaces it;
    /// the replaced session is returned so the caller can close it.
    @discardableResult
    func register(_ session: NodeSession) -> NodeSession? {
        let replaced = state.withLock { state in
            let old = state.entries[session.id]
            state.entries[session.id] = Entry(session: session)
            return old?.session
        }
        if replaced != nil { scheduler.nodeLeft(session.id) }
        scheduler.nodeJoined(session.hello)
        changes.yield(.registered(session.id))
        fireCapacity()
        return replaced
    }

    /// Removes a session if it is still the registered one for its node.
    func remove(_ session: NodeSession, reason: String) {
        let removed = state.withLock { state in
            guard let entry = state.entries[session.id], entry.session === session else { return false }
            state.entries[session.id] = nil
            return true
        }
        guard removed else { return }
        scheduler.nodeLeft(session.id)
        changes.yield(.removed(session.id, reason: reason))
    }

    /// A node's heartbeat: applies its power state to the scheduler (a node that starts admitting again wakes
    /// queued requests) and passes its energy intervals to the ledger.
    func heartbeat(_ beat: NodeHeartbeat, from session: NodeSession) {
        guard state.withLock({ $0.entries[session.id]?.session === session }) else { return }
        let wasAdmittingBefore = scheduler.isAdmitting(session.id)
        scheduler.setEngineHealthy(session.id, beat.engineHealthy)
        if let link = beat.link { scheduler.applyLink(session.id, link) }
        let lighter = scheduler.applyStreamsElsewhere(session.id, beat.otherGatewayStreams ?? 0)
        if lighter || (!wasAdmittingBefore && scheduler.isAdmitting(session.id)) { fireCapacity() }
        if let power = beat.power {
            // Unknown modes from a newer or hostile node count as draining: never place work on them.
            let mode = PowerGovernor.Mode(rawValue: power.mode) ?? .draining
            let wasAdmitting = scheduler.isAdmitting(session.id)
            let admitting = scheduler.applyPower(session.id, mode: mode, capFraction: power.capFraction)
            if admitting && !wasAdmitting { fireCapacity() }
        }
        if let energy = beat.energy, !energy.isEmpty, let sink = state.withLock({ $0.energySink }) {
            sink(session.id, energy)
        }
        // Announced once the whole beat took effect, its energy queued included: whoever follows the reports (the
        // power loop, tests that then read the ledger) sees everything the beat carried.
        if let power = beat.power { reports.yield((session.id, power)) }
        beats.yield((session.id, beat))
    }

    /// Every heartbeat from now on, after the scheduler applied it (tests).
    package func heartbeats() -> AsyncStream<(NodeID, NodeHeartbeat)> { beats.subscribe() }

    /// Where nodes' energy intervals go (the gateway's energy ledger).
    func setEnergySink(_ sink: @escaping @Sendable (NodeID, [EnergyInterval]) -> Void) {
        state.withLock { $0.energySink = sink }
    }

    /// Every power report from now on (tests and the power coordinator).
    package func powerReports() -> AsyncStream<PowerReport> { reports.subscribe() }

    /// Registry changes from now on. The stream ends when the caller stops iterating.
    package func events() -> AsyncStream<Event> { changes.subscribe() }

    package var nodeIDs: [NodeID] { state.withLock { $0.entries.keys.sorted() } }

    /// Every registered session, ordered by node id.
    package func sessions() -> [NodeSession] {
        state.withLock { $0.entries.values.map(\.session) }.sorted { $0.id < $1.id }
    }

    package func session(_ id: NodeID) -> NodeSession? { state.withLock { $0.entries[id]?.session } }

    /// Every model that at least one live node serves, with the largest context any of them offers.
    package func servedModels() -> [ServedModel] {
        state.withLock { state in
            var best: [String: Int] = [:]
            for entry in state.entries.values where entry.session.isAcceptingStreams {
                for model in entry.session.hello.models {
                    best[model.id] = max(best[model.id] ?? 0, model.contextTokens)
                }
            }
            return best.map { ServedModel(id: $0.key, contextTokens: $0.value) }.sorted { $0.id < $1.id }
        }
    }

    /// The session of `id` if it takes new streams; nil when the node went away or is draining.
    /// (How many requests each node holds is the scheduler's state: ``FleetScheduler``.)
    package func acquire(_ id: NodeID) -> NodeSession? {
        state.withLock { state in
            guard let entry = state.entries[id], entry.session.isAcceptingStreams else { return nil }
            return entry.session
        }
    }

    /// A request on some node ended: wake requests queued for capacity.
    package func release(_ session: NodeSession) {
        fireCapacity()
    }
}
