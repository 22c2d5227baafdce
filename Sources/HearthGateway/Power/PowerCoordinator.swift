import Foundation
public import HearthCore
public import HearthProtocol
import Logging
public import ServiceLifecycle
import Synchronization

/// The gateway's power loop: shares each distribution transformer among the nodes of its homes
/// (``TransformerAllocator``: homes first, nodes max-min fair), applies the grid's demand-response events in
/// force (``DemandResponse``), and sends every node the ``PowerLimit`` that results. It also writes the nodes'
/// energy intervals to the fleet store, credited to their homes.
public final class PowerCoordinator: Service, Sendable {
    /// What was sent to one node, for reports and tests.
    public struct Sent: Sendable, Equatable {
        public var node: NodeID
        public var limit: PowerLimit
        /// Unix seconds.
        public var at: Double
    }

    private struct State {
        var events: [GridEvent] = []
        var lastSent: [NodeID: (limit: PowerLimit, at: Double, session: ObjectIdentifier)] = [:]
    }

    public let configuration: PowerSiteConfiguration
    private let registry: NodeRegistry
    private let store: any FleetStore
    private let logger: Logger
    private let state = Mutex(State())
    private let sent = Broadcast<Sent>()
    /// Nodes' energy intervals on their way to the store, written in one transaction per flush.
    let energyLedger: EnergyLedger

    init(configuration: PowerSiteConfiguration, registry: NodeRegistry, store: any FleetStore, logger: Logger) {
        self.configuration = configuration
        self.registry = registry
        self.store = store
        self.logger = logger
        energyLedger = EnergyLedger(store: store, logger: logger)
        registry.setEnergySink { [weak self] node, intervals in self?.record(intervals, from: node) }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                // Ends by cancellation, with a last flush of what is queued.
                group.addTask { await self.energyLedger.run() }
                while !Task.isCancelled {
                    self.step(now: Date().timeIntervalSince1970)
                    do { try await Task.sleep(for: self.configuration.period) } catch { break }
                }
                group.cancelAll()
            }
        }
    }

    /// Store writes of energy so far (one transaction each, for every node's queued intervals together).
    package var energyStoreWrites: Int { energyLedger.flushCount }

    /// Writes the energy intervals queued so far (tests read the store after it; the gateway flushes every second).
    public func flushEnergy() async throws { try await energyLedger.flush() }

    /// Replaces the grid events in force (the OpenADR client's latest view).
    public func setGridEvents(_ events: [GridEvent]) {
        state.withLock { $0.events = events }
        step(now: Date().timeIntervalSince1970)
    }

    public var gridEvents: [GridEvent] { state.withLock { $0.events } }

    /// One round: budgets and caps for every connected node, sent where they changed (or are due a refresh).
    public func step(now: Double) {
        let sessions = registry.sessions()
        let reports = sessions.map { $0.lastHeartbeat?.power }
        var limits = [PowerLimit](
            repeating: PowerLimit(transformerBudgetWatts: nil, gridCapWatts: nil), count: sessions.count)

        // Grid events: the least cap of every event in force that targets the node or one of its groups.
        let events = state.withLock { $0.events }
        if !events.isEmpty {
            let nodes = sessions.enumerated().map { i, session -> DemandResponse.Node in
                let site = configuration.site(of: session.id)
                var groups = site.groups
                groups.insert(site.homeID)
                if let transformer = site.transformerID { groups.insert(transformer) }
                return DemandResponse.Node(id: session.id.rawValue, groups: groups, fullWatts: reports[i]?.fullWatts ?? 0)
            }
            let caps = DemandResponse(configuration: configuration.demandResponse).caps(events: events, nodes: nodes, at: now)
            for i in sessions.indices { limits[i].gridCapWatts = caps[i] }
        }

        // Transformers: share what the homes leave among their nodes.
        for transformer in configuration.transformers {
            let members = sessions.indices.filter { configuration.site(of: sessions[$0].id).transformerID == transformer.id }
            guard !members.isEmpty else { continue }
            var homes = members.map { i -> TransformerAllocator.Home in
                let report = reports[i]
                let homeLoad = report?.homeLoadWatts ?? configuration.unknownHomeLoadWatts
                let demand = min(report?.fullWatts ?? 0, report?.homeBudgetWatts ?? 0, limits[i].gridCapWatts ?? .infinity)
                return TransformerAllocator.Home(
                    id: sessions[i].id.rawValue, homeLoadWatts: homeLoad, nodeDemandWatts: demand,
                    nodeFloorWatts: report?.floorWatts ?? 0)
            }
            // Homes without a node load the transformer too.
            homes.append(
                TransformerAllocator.Home(
                    id: "unmanaged", homeLoadWatts: configuration.unmanagedLoadWatts[transformer.id] ?? 0, nodeDemandWatts: 0))
            let budgets = TransformerAllocator().allocate(homes, on: transformer)
            for (k, i) in members.enumerated() { limits[i].transformerBudgetWatts = budgets[k] }
        }

        for (i, session) in sessions.enumerated() {
            var limit = limits[i]
            limit.reason = Self.reason(limit, events: events, node: session.id, site: configuration.site(of: session.id), now: now)
            send(limit, to: session, now: now)
        }
    }

    private static func reason(_ limit: PowerLimit, events: [GridEvent], node: NodeID, site: PowerSiteConfiguration.Site, now: Double)
        -> String?
    {
        var parts: [String] = []
        if limit.gridCapWatts != nil {
            let active = events.filter { $0.isActive(for: node.rawValue, at: now) }.map(\.id)
            parts.append("grid event \(active.joined(separator: ","))")
        }
        if let transformer = site.transformerID, limit.transformerBudgetWatts != nil { parts.append("transformer \(transformer)") }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    private func send(_ limit: PowerLimit, to session: NodeSession, now: Double) {
        let refresh = configuration.refresh.seconds
        let due = state.withLock { state -> Bool in
            let previous = state.lastSent[session.id]
            let due =
                previous == nil || previous!.session != ObjectIdentifier(session) || !Self.same(previous!.limit, limit)
                || now - previous!.at >= refresh
            if due { state.lastSent[session.id] = (limit, now, ObjectIdentifier(session)) }
            return due
        }
        guard due else { return }
        session.send(limit)
        sent.yield(Sent(node: session.id, limit: limit, at: now))
    }

    /// Equal within 1 % or 50 W: tiny wobbles in home load need no message.
    private static func same(_ a: PowerLimit, _ b: PowerLimit) -> Bool {
        func close(_ x: Double?, _ y: Double?) -> Bool {
            switch (x, y) {
            case (nil, nil): true
            case (let x?, let y?): abs(x - y) <= max(50, 0.01 * max(x, y))
            default: false
            }
        }
        return close(a.transformerBudgetWatts, b.transformerBudgetWatts) && close(a.gridCapWatts, b.gridCapWatts)
    }

    /// Every limit sent from now on.
    public func limitsSent() -> AsyncStream<Sent> { sent.subscribe() }

    /// What each node drew over its last reported heartbeat, kW, for OpenADR reports.
    public func currentDrawKilowatts() -> [(node: String, kilowatts: Double)] {
        registry.sessions().map { ($0.id.rawValue, ($0.lastHeartbeat?.power?.drawWatts ?? 0) / 1000) }
    }

    /// Queues a node's screened intervals (its tunnel's ``EnergyIntervalGuard`` already refused what it must), credited
    /// to its configured home. The ledger refuses overlaps with what it holds from earlier tunnels.
    private func record(_ intervals: [EnergyInterval], from node: NodeID) {
        let home = configuration.site(of: node).homeID
        // Only ever fed by the tunnel's checks today; the stateless checks again, cheaply, in case that changes.
        let now = Int64(Date().timeIntervalSince1970)
        let records = intervals.compactMap { interval -> EnergyRecord? in
            let candidate = EnergyMeter.Interval(start: interval.start, end: interval.end, wattHours: interval.wattHours)
            let refusal = EnergyIntervalGuard.refusal(
                of: candidate, maximumDrawWatts: NodeTelemetryLimits.maximumNodeWatts, now: now, limits: NodeTelemetryLimits.energy)
            guard refusal == nil else { return nil }
            return EnergyRecord(
                nodeID: node, homeID: home, start: Date(timeIntervalSince1970: Double(interval.start)),
                end: Date(timeIntervalSince1970: Double(interval.end)), wattHours: interval.wattHours)
        }
        if records.count < intervals.count {
            logger.warning(
                "dropped implausible energy intervals", metadata: ["node": "\(node)", "count": "\(intervals.count - records.count)"])
        }
        guard !records.isEmpty else { return }
        energyLedger.record(records)
    }
}
