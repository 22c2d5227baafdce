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
        /// Whether this replica holds the coordinator's lease now (always, for a gateway alone).
        var coordinating = false
        /// The fleet the coordinator last allocated over (its nodes' reports), for OpenADR's reports.
        var fleet: [(node: NodeID, report: NodePowerReport)] = []
    }

    public let configuration: PowerSiteConfiguration
    private let registry: NodeRegistry
    private let store: any FleetStore
    private let logger: Logger
    private let state = Mutex(State())
    private let sent = Broadcast<Sent>()
    /// Nodes' energy intervals on their way to the store, written in one transaction per flush.
    let energyLedger: EnergyLedger
    /// With other replicas on one store: where the fleet's reports and limits meet (nil: this gateway alone decides).
    private let exchange: (any PowerExchange)?
    private let metrics: GatewayMetrics?

    init(
        configuration: PowerSiteConfiguration, registry: NodeRegistry, store: any FleetStore, exchange: (any PowerExchange)? = nil,
        metrics: GatewayMetrics? = nil, logger: Logger
    ) {
        self.metrics = metrics
        self.configuration = configuration
        self.registry = registry
        self.store = store
        self.exchange = exchange
        self.logger = logger
        state.withLock { $0.coordinating = exchange == nil }
        metrics?.powerCoordinator(exchange == nil)
        energyLedger = EnergyLedger(store: store, logger: logger)
        registry.setEnergySink { [weak self] node, intervals in self?.record(intervals, from: node) }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                // Ends by cancellation, with a last flush of what is queued.
                group.addTask { await self.energyLedger.run() }
                if let exchange = self.exchange {
                    group.addTask { await self.coordinateWhenFree(exchange) }
                    await self.shareWithReplicas(exchange)
                } else {
                    while !Task.isCancelled {
                        self.step(now: Date().timeIntervalSince1970)
                        do { try await Task.sleep(for: self.configuration.period) } catch { break }
                    }
                }
                group.cancelAll()
            }
        }
    }

    /// Whether this replica decides the fleet's power now (a gateway alone always does): only the coordinator talks
    /// to the grid operator (OpenADR), so that one fleet answers as one.
    public var isCoordinating: Bool { state.withLock { $0.coordinating } }

    /// How long a published report counts as a node that draws: a node no replica has heard from for this long is
    /// taken to be gone.
    private var reportLifetime: Double { max(5, 5 * configuration.period.seconds) }

    /// Every period: publish the reports of the nodes connected here that changed (or are due a refresh within the
    /// coordinator's freshness window), and send them the limits the coordinator published since the last read. Every
    /// ``fullLimitReadPeriods`` periods, and for a node new here, every limit is read again, so that none missed by a
    /// read is missed for long. A store that fails leaves the nodes on the last limits they got.
    private func shareWithReplicas(_ exchange: any PowerExchange) async {
        var publication = ChangePublication<NodeID, NodePowerReport>(refresh: reportLifetime / 2, same: Self.same)
        var limits = IncrementalView<NodeID, PowerLimit>()
        var known = Set<NodeID>()
        var round = 0
        while !Task.isCancelled {
            let now = Date().timeIntervalSince1970
            let sessions = registry.sessions()
            let ids = Set(sessions.map(\.id))
            do {
                publication.keep(only: ids)
                let due = publication.due(sessions.compactMap { s in s.lastHeartbeat?.power.map { (key: s.id, value: $0) } }, now: now)
                try await exchange.publish(reports: due)
                publication.written(due, at: now)

                if round % Self.fullLimitReadPeriods == 0 { limits = IncrementalView() }
                let fullRead = limits.nextReadFrom == nil
                let read = try await exchange.limits(for: Array(ids), since: limits.nextReadFrom)
                limits.take(read.rows, clock: read.clock, oldest: 0)
                let new = ids.subtracting(known)
                if !new.isEmpty, !fullRead {
                    let first = try await exchange.limits(for: Array(new), since: nil)
                    limits.take(first.rows, clock: first.clock, oldest: 0)
                }
                known = ids
                for session in sessions {
                    if let limit = limits[session.id] { send(limit, to: session, now: now) }
                }
                round += 1
            } catch {
                logger.warning("could not share power with the other replicas", metadata: ["error": "\(error)"])
            }
            do { try await Task.sleep(for: configuration.period) } catch { return }
        }
    }

    /// How often (in power periods) a replica reads all its nodes' limits again rather than only the new ones.
    static let fullLimitReadPeriods = 30

    /// Asks for the coordinator's lease every period; while this replica holds it, allocates over every node any
    /// replica reported and publishes the limits that changed.
    private func coordinateWhenFree(_ exchange: any PowerExchange) async {
        while !Task.isCancelled {
            do {
                let held = try await exchange.coordinate { session in
                    state.withLock { $0.coordinating = true }
                    metrics?.powerCoordinator(true)
                    logger.notice("this replica coordinates the fleet's power")
                    defer {
                        state.withLock { $0.coordinating = false }
                        metrics?.powerCoordinator(false)
                    }
                    // Fresh for each lease: a new coordinator reads every live report and publishes every limit once.
                    var reports = IncrementalView<NodeID, NodePowerReport>()
                    var publication = ChangePublication<NodeID, PowerLimit>(refresh: nil, same: Self.same)
                    while !Task.isCancelled {
                        let read = try await session.reports(since: reports.nextReadFrom, lifetime: reportLifetime)
                        reports.take(read.rows, clock: read.clock, oldest: read.clock - reportLifetime)
                        let fleet = reports.values.sorted { $0.key.rawValue < $1.key.rawValue }.map { (node: $0.key, report: $0.value) }
                        let now = Date().timeIntervalSince1970
                        let events = state.withLock { state in
                            state.fleet = fleet
                            return state.events
                        }
                        let limits = Self.allocate(
                            fleet.map { ($0.node, $0.report) }, events: events, configuration: configuration, now: now)
                        let all = zip(fleet.map(\.node), limits).map { (key: $0, value: $1) }
                        publication.keep(only: Set(fleet.map(\.node)))
                        let due = publication.due(all, now: now)
                        try await session.publish(limits: due)
                        publication.written(due, at: now)
                        try await Task.sleep(for: configuration.period)
                    }
                }
                if held { continue }
            } catch {
                if Task.isCancelled { return }
                logger.warning("lost or could not take the power coordinator's lease", metadata: ["error": "\(error)"])
            }
            do { try await Task.sleep(for: configuration.period) } catch { return }
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

    /// One round: budgets and caps for every connected node, sent where they changed (or are due a refresh). On a
    /// store shared with other replicas, the coordinator's loop does this for the whole fleet instead (``run()``).
    public func step(now: Double) {
        guard exchange == nil else { return }
        let sessions = registry.sessions()
        let events = state.withLock { $0.events }
        let limits = Self.allocate(
            sessions.map { ($0.id, $0.lastHeartbeat?.power) }, events: events, configuration: configuration, now: now)
        for (i, session) in sessions.enumerated() { send(limits[i], to: session, now: now) }
    }

    /// Each node's limit, by HearthCore's ``GridAllocation`` (the simulator's week runs the same code): the least cap
    /// of every grid event in force that targets it or one of its groups, and its share of its transformer once the
    /// homes' own loads are served. `nodes` must be every node that draws from the transformers concerned: a node
    /// left out is a load the allocation does not know.
    static func allocate(
        _ nodes: [(id: NodeID, report: NodePowerReport?)], events: [GridEvent], configuration: PowerSiteConfiguration, now: Double
    ) -> [PowerLimit] {
        let allocation = GridAllocation(
            transformers: configuration.transformers, unmanagedLoadWatts: configuration.unmanagedLoadWatts,
            unknownHomeLoadWatts: configuration.unknownHomeLoadWatts,
            demandResponse: DemandResponse(configuration: configuration.demandResponse))
        let grid = nodes.map { node in
            GridAllocation.Node(
                id: node.id.rawValue, groups: configuration.targetGroups(of: node.id),
                transformerID: configuration.site(of: node.id).transformerID, fullWatts: node.report?.fullWatts ?? 0,
                gridFloorWatts: node.report?.floorWatts ?? 0, homeLoadWatts: node.report?.homeLoadWatts,
                homeBudgetWatts: node.report?.homeBudgetWatts)
        }
        return zip(nodes, allocation.allocate(grid, events: events, at: now)).map { node, limit in
            var sent = PowerLimit(transformerBudgetWatts: limit.transformerBudgetWatts, gridCapWatts: limit.gridCapWatts)
            sent.reason = Self.reason(sent, events: events, node: node.id, site: configuration.site(of: node.id), now: now)
            return sent
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
    @Sendable static func same(_ a: PowerLimit, _ b: PowerLimit) -> Bool {
        close(a.transformerBudgetWatts, b.transformerBudgetWatts) && close(a.gridCapWatts, b.gridCapWatts)
    }

    /// Reports alike enough that the coordinator would decide the same: same mode, watts within 1 % or 50 W.
    @Sendable static func same(_ a: NodePowerReport, _ b: NodePowerReport) -> Bool {
        a.mode == b.mode && close(a.budgetWatts, b.budgetWatts) && close(a.drawWatts, b.drawWatts) && close(a.capWatts, b.capWatts)
            && close(a.homeLoadWatts, b.homeLoadWatts) && close(a.homeBudgetWatts, b.homeBudgetWatts)
            && close(a.fullWatts, b.fullWatts) && close(a.floorWatts, b.floorWatts)
    }

    private static func close(_ x: Double?, _ y: Double?) -> Bool {
        switch (x, y) {
        case (nil, nil): true
        case (let x?, let y?): abs(x - y) <= max(50, 0.01 * max(abs(x), abs(y)))
        default: false
        }
    }

    /// Every limit sent from now on.
    public func limitsSent() -> AsyncStream<Sent> { sent.subscribe() }

    /// What each node drew over its last reported heartbeat, kW, with what events may target it by, for OpenADR
    /// reports: the whole fleet's nodes (as the replicas reported them) on a coordinator among replicas, this
    /// gateway's otherwise.
    public func readingsForReports() -> [OpenADRReportPlanner.NodeReading] {
        let draws: [(NodeID, Double)] =
            exchange != nil
            ? state.withLock { $0.fleet.map { ($0.node, $0.report.drawWatts) } }
            : registry.sessions().map { ($0.id, $0.lastHeartbeat?.power?.drawWatts ?? 0) }
        return draws.map { node, watts in
            OpenADRReportPlanner.NodeReading(node: node.rawValue, groups: configuration.targetGroups(of: node), kilowatts: watts / 1000)
        }
    }

    /// Every target string the sites file gives a home, transformer or group: events naming these apply to their
    /// nodes only.
    public func siteTargets() -> Set<String> {
        var all = Set(configuration.transformers.map(\.id))
        for site in configuration.sites.values { all.formUnion(configuration.targetGroups(of: site)) }
        return all
    }

    /// Queues a node's screened intervals (its tunnel's ``EnergyIntervalGuard`` already refused what it must), credited
    /// to its configured home. The ledger refuses overlaps with what it holds from earlier tunnels.
    private func record(_ intervals: [EnergyInterval], from node: NodeID) {
        let home = configuration.site(of: node).homeID
        let events = state.withLock { $0.events }
        let groups = configuration.targetGroups(of: node)
        // Only ever fed by the tunnel's checks today; the stateless checks again, cheaply, in case that changes.
        let now = Int64(Date().timeIntervalSince1970)
        let records = intervals.compactMap { interval -> EnergyRecord? in
            let candidate = EnergyMeter.Interval(
                start: interval.start, end: interval.end, wattHours: interval.wattHours, batteryWattHours: interval.batteryWattHours)
            let refusal = EnergyIntervalGuard.refusal(
                of: candidate, maximumDrawWatts: NodeTelemetryLimits.maximumNodeWatts, now: now, limits: NodeTelemetryLimits.energy)
            guard refusal == nil else { return nil }
            // The grid events that bound the node during the interval: the demand response the host's statement names.
            let answered = Set(
                events.filter { event in
                    event.targets(node: node.rawValue, groups: groups)
                        && event.isActive(for: node.rawValue, from: Double(interval.start), to: Double(interval.end))
                }.map { $0.offsetKey ?? $0.id }
            ).sorted()
            return EnergyRecord(
                nodeID: node, homeID: home, start: Date(timeIntervalSince1970: Double(interval.start)),
                end: Date(timeIntervalSince1970: Double(interval.end)), wattHours: interval.wattHours,
                batteryWattHours: interval.batteryWattHours, gridEvents: answered.isEmpty ? nil : answered.joined(separator: ","))
        }
        if records.count < intervals.count {
            logger.warning(
                "dropped implausible energy intervals", metadata: ["node": "\(node)", "count": "\(intervals.count - records.count)"])
        }
        guard !records.isEmpty else { return }
        energyLedger.record(records)
    }
}
