import AsyncHTTPClient
import Foundation
public import HearthCore
public import Logging
import NIOCore
import NIOFoundationCompat
public import ServiceLifecycle
import Synchronization

/// Where the gateway's OpenADR client (VEN) finds its utility's VTN, and who it is there.
public struct OpenADRConfiguration: Sendable {
    /// The VTN's API root, e.g. `https://vtn.example/openadr3/3.1.0` (resources are `{base}/programs`, …).
    public var baseURL: String
    public var clientID: String
    public var clientSecret: String
    /// OAuth2 token endpoint: a path under ``baseURL`` or an absolute URL. Nil: asked of the VTN (`GET /auth/server`,
    /// its `tokenURL`), else `/auth/token`.
    public var tokenPath: String?
    /// This VEN's name: registered under `/vens` and named in reports (`clientName`).
    public var venName = "hearth-gateway"
    /// VEN-wide targets: an event naming one of these applies to every node, as one naming the VEN does. Targets of
    /// transformers and sites come from the power sites file and apply to their nodes only.
    public var targets: [String] = []
    public var pollInterval: Duration = .seconds(5)
    /// Where the VTN can reach this gateway's `/openadr/notifications` (an absolute URL); nil: polling only.
    public var callbackURL: String?
    /// Objects asked per page of `/programs` and `/events`.
    public var pageSize = 50
    /// Seconds after an event ended in which its closing report still goes out.
    public var reportEndGrace: Double = 60

    public init(baseURL: String, clientID: String, clientSecret: String) {
        self.baseURL = baseURL
        self.clientID = clientID
        self.clientSecret = clientSecret
    }
}

/// An OpenADR 3.1 VEN (OpenADR Alliance, "OpenADR 3.1.0 Specification", 2024: the REST resources `vens`, `programs`,
/// `events`, `reports` and `subscriptions`, and OAuth2 client-credentials authentication).
///
/// At start (and again after a failure): find the token endpoint (`/auth/server`), register the VEN under `/vens`
/// (found by name, created with `VEN_VEN_REQUEST` when missing; the VTN's targets for it are read back), and, when a
/// callback URL is configured, subscribe to program and event changes. Each poll, and at once on a notification:
/// read every page of `/programs` and `/events`, turn each `IMPORT_CAPACITY_LIMIT` and `SIMPLE` interval into a
/// ``GridEvent`` with the specification's targeting (``OpenADR/readGridEvents(from:now:venTargets:)``), hand them to
/// the ``PowerCoordinator``, and post the reports ``OpenADRReportPlanner`` says are due. A VTN that cannot be reached
/// keeps the last events in force until they end (they carry their own times).
public final class OpenADRClient: Service, Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case http(String, status: UInt)
        case unreadable(String, any Error)
        case tooManyPages(String)

        public var description: String {
            switch self {
            case .http(let what, let status): "OpenADR \(what): HTTP \(status)"
            case .unreadable(let what, let error): "OpenADR \(what): unreadable response (\(error))"
            case .tooManyPages(let what): "OpenADR \(what): more pages than the VEN reads"
            }
        }
    }

    struct Token {
        var value: String
        var expires: ContinuousClock.Instant
    }

    struct State {
        var token: Token?
        var tokenURL: String?
        var programs: [OpenADR.Program] = []
        /// Targets the VTN gave this VEN (its `/vens` object), once registered.
        var registeredTargets: [String]?
        var subscribed = false
        /// After a refused registration or subscription, when to try again (a VTN without them is not asked every poll).
        var registerAgainAt: ContinuousClock.Instant?
        var planner = OpenADRReportPlanner()
        var wake: CheckedContinuation<Void, Never>?
        var notified = false
    }

    public let configuration: OpenADRConfiguration
    let coordinator: PowerCoordinator
    let http: HTTPClient
    let logger: Logger
    let state = Mutex(State())
    /// The bearer token the VTN must present on notifications (sent to it with the subscription).
    let notificationToken = "hearth-" + UUID().uuidString.lowercased()

    public init(configuration: OpenADRConfiguration, coordinator: PowerCoordinator, logger: Logger) {
        var configuration = configuration
        configuration.pageSize = min(max(configuration.pageSize, 1), 500)
        self.configuration = configuration
        self.coordinator = coordinator
        self.http = HTTPClient.shared
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                // Among replicas, only the power coordinator talks to the grid operator: one fleet, one VEN.
                if self.coordinator.isCoordinating {
                    do { try await self.poll() } catch { self.logger.warning("OpenADR poll failed", metadata: ["error": "\(error)"]) }
                }
                await self.sleepUntilDueOrNotified()
            }
        }
    }

    /// A notification from the VTN: poll now instead of at the next interval.
    func notified() {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.notified = true
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    private func sleepUntilDueOrNotified() async {
        let interval = configuration.pollInterval
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: interval) }
            group.addTask { [self] in
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let now = state.withLock { state -> Bool in
                            if state.notified || Task.isCancelled { return true }
                            state.wake = continuation
                            return false
                        }
                        if now { continuation.resume() }
                    }
                } onCancel: {
                    state.withLock { state in
                        defer { state.wake = nil }
                        return state.wake
                    }?.resume()
                }
            }
            await group.next()
            group.cancelAll()
        }
        state.withLock { $0.notified = false }
    }

    /// One poll: token, registration, programs, events, apply, reports. Returns the grid events now known.
    @discardableResult
    public func poll() async throws -> [GridEvent] {
        let token = try await bearerToken()
        await registerIfNeeded(token: token)
        let programs: [OpenADR.Program] = try await getAll("/programs", token: token)
        state.withLock { $0.programs = programs }
        // One event the VEN cannot read never hides the others: each is read on its own, and refusals are logged.
        let listed: [OpenADR.Lossy<OpenADR.Event>] = try await getAll("/events", token: token)
        for problem in listed.compactMap(\.problem) {
            logger.warning("ignored an event the VEN cannot read", metadata: ["problem": "\(problem.prefix(300))"])
        }
        let events = listed.compactMap(\.element)
        let now = Date().timeIntervalSince1970
        let known = Set(programs.compactMap(\.id))
        let venTargets = self.venTargets()
        var followed: [OpenADR.Event] = []
        var gridEvents: [GridEvent] = []
        for event in events where known.isEmpty || known.contains(event.programID) {
            followed.append(event)
            let read = OpenADR.readGridEvents(from: event, now: now, venTargets: venTargets)
            gridEvents += read.events
            for refusal in read.refused { logger.warning("refused part of an event", metadata: ["refusal": "\(refusal)"]) }
        }
        coordinator.setGridEvents(gridEvents)
        let reports = state.withLock {
            $0.planner.endGrace = configuration.reportEndGrace
            return $0.planner.reports(
                for: followed, gridEvents: gridEvents, nodes: coordinator.readingsForReports(), now: now,
                clientName: configuration.venName)
        }
        for report in reports {
            try await post("/reports", body: report, token: token)
            logger.info(
                "reported to the VTN", metadata: ["event": "\(report.eventID)", "resources": "\(report.resources.count)"])
        }
        return gridEvents
    }

    /// What names the VEN itself in an event's targets: its name (bare and as `VEN_NAME:`), the operator's VEN-wide
    /// targets, and the targets its VTN gave it, less those that name a transformer, home or group of the fleet's
    /// (an event naming one of those applies to its nodes only).
    func venTargets() -> Set<String> {
        let granted = state.withLock { $0.registeredTargets } ?? []
        let local = coordinator.siteTargets()
        var own = Set(configuration.targets + [configuration.venName, "VEN_NAME:\(configuration.venName)"])
        own.formUnion(granted.filter { !local.contains($0) })
        return own
    }
}
