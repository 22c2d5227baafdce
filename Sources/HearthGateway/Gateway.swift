import Foundation
public import HearthCore
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
public import ServiceLifecycle

/// A Hearth gateway: the OpenAI-compatible HTTP API, the endpoint node tunnels dial, and the usage
/// ledger. Run its ``services`` in the process's `ServiceGroup`; ``ready()`` returns once both
/// listeners are bound.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let store: any FleetStore
    public let ledger: UsageLedger
    package let registry: NodeRegistry
    package let metrics: GatewayMetrics
    /// Transformer budgets, grid events and the energy ledger.
    public let power: PowerCoordinator
    /// The OpenADR client, when a VTN is configured.
    public let openADR: OpenADRClient?
    private let addresses = ReadySignal<GatewayAddresses>()
    private let tunnelPort = ReadySignal<Int>()
    private let metricsPort = ReadySignal<Int?>()
    private let logger: Logger
    public let services: [any Service]

    /// Node identities (fleet CA, mTLS tunnel, enrollment, admin API); nil: plain tunnels (tests, development).
    public let identity: GatewayIdentity?
    /// API keys to tenant policies, cached (``APIKeyAuthenticator``); emptied when keys or policies change here.
    let authenticator: APIKeyAuthenticator
    /// Whether this replica takes requests (false once it drains), and how many it serves.
    package let admission = RequestAdmission()
    /// Every tenant's limits, as this replica enforces its share of them.
    package let tenantLimiter: TenantLimiter

    public init(configuration: GatewayConfiguration, store: any FleetStore, identity: GatewayIdentity? = nil, logger: Logger) {
        self.configuration = configuration
        self.identity = identity
        self.store = store
        self.logger = logger
        let metrics = GatewayMetrics()
        self.metrics = metrics
        let scheduler = FleetScheduler(
            policy: configuration.schedulingPolicy,
            configuration: SchedulerConfiguration(targets: configuration.classTargets),
            attestedNodes: configuration.attestedNodes,
            dataCentreNodes: configuration.dataCentreNodes,
            isolationWaitSeconds: configuration.isolationWaitSeconds
        )
        let conduct = NodeConductMonitor(conduct: configuration.nodeConduct, scheduler: scheduler, metrics: metrics, logger: logger)
        conduct.attach(identity)
        registry = NodeRegistry(scheduler: scheduler, conduct: conduct)
        // Replicas on a shared store end an answer only once its usage row is committed: a replica killed between the
        // two must not leave a complete answer unbilled. A gateway alone keeps the faster path (its crash loses at most
        // the rows of the flush under way).
        ledger = UsageLedger(
            store: store, logger: logger,
            commitsBeforeAnswersEnd: configuration.commitsUsageBeforeAnswersEnd ?? (store is PostgresFleetStore), metrics: metrics)
        // Replicas on one PostgreSQL store decide power together: one coordinator allocates over the whole fleet.
        let power = PowerCoordinator(
            configuration: configuration.power, registry: registry, store: store,
            exchange: (store as? PostgresFleetStore)?.powerExchange, metrics: metrics, logger: logger)
        self.power = power
        let openADR = configuration.openADR.map { OpenADRClient(configuration: $0, coordinator: power, logger: logger) }
        self.openADR = openADR
        let authenticator = APIKeyAuthenticator(
            store: store, maximumStaleness: configuration.apiKeyCacheSeconds, clock: configuration.tenantClock)
        self.authenticator = authenticator
        let limiter = TenantLimiter(clock: configuration.tenantClock)
        tenantLimiter = limiter
        let relay = InferenceRelay(
            registry: registry,
            scheduler: registry.scheduler,
            authenticator: authenticator,
            ledger: ledger,
            metrics: metrics,
            configuration: configuration,
            admission: admission,
            limiter: limiter,
            logger: logger
        )
        // Replicas on one PostgreSQL store count each other, and each enforces its share of every tenant's limits.
        var presence: [any Service] = []
        if let shared = store as? PostgresFleetStore {
            presence = [ReplicaPresence(roll: shared.replicaRoll, limiter: limiter, admission: admission, logger: logger)]
        }
        let addresses = self.addresses
        let tunnelPort = self.tunnelPort
        let tunnel = TunnelServer(
            configuration: configuration.tunnel,
            registry: registry,
            identity: identity,
            store: store,
            logger: logger,
            onBound: { port in tunnelPort.fulfil(port) }
        )
        identity?.attach(
            registry, heartbeatIntervalSeconds: Double(configuration.tunnel.heartbeatInterval.nanoseconds) / 1e9,
            missedHeartbeats: configuration.tunnel.missedHeartbeatsBeforeDead,
            protectedIdentities: configuration.attestedNodes.union(configuration.dataCentreNodes))
        let router = Self.makeRouter(relay: relay, registry: registry, metrics: metrics, identity: identity, admission: admission)
        AdminRoutes.add(to: router, identity: identity, registry: registry)
        UsageRoute.add(to: router, authenticator: authenticator, store: store, spend: relay.spend)
        if let openADR, configuration.openADR?.callbackURL != nil { OpenADRNotificationRoute.add(to: router, client: openADR) }
        let metricsPort = self.metricsPort
        let app = Application(
            router: router,
            server: Self.serverBuilder(tls: configuration.clientTLS, idleTimeout: configuration.clientIdleTimeout),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let http = channel.localAddress?.port ?? configuration.port
                // A listener that could not bind has failed `addresses` already (``ListenerService``).
                let tunnel: Int
                let metrics: Int?
                do {
                    tunnel = try await tunnelPort.value()
                    metrics = try await metricsPort.value()
                } catch {
                    return
                }
                var bound = GatewayAddresses(
                    host: configuration.host, httpPort: http, tunnelPort: tunnel, usesTLS: configuration.clientTLS != nil)
                bound.metricsPort = metrics
                addresses.fulfil(bound)
            },
            logger: logger
        )
        let metricsApp: [any Service]
        if let listener = configuration.metricsListener {
            let metricsRouter = Router(context: GatewayRequestContext.self)
            let registry = self.registry
            let metrics = self.metrics
            metricsRouter.get("/metrics") { _, _ in Self.metricsResponse(registry: registry, metrics: metrics) }
            metricsApp = [
                Application(
                    router: metricsRouter,
                    server: .http1(configuration: .init(idleTimeout: TimeAmount(configuration.clientIdleTimeout))),
                    configuration: .init(address: .hostname(listener.host, port: listener.port), serverName: nil),
                    onServerRunning: { channel in metricsPort.fulfil(channel.localAddress?.port ?? listener.port) },
                    logger: logger)
            ]
        } else {
            metricsPort.fulfil(nil)
            metricsApp = []
        }
        let identityTicks: [any Service] =
            identity.map { [IdentityTicker(identity: $0, interval: configuration.tunnel.heartbeatInterval)] } ?? []
        // Last, so that the service group shuts it down first: requests in flight finish before the server and the
        // tunnels close.
        let drain = GatewayDrain(admission: admission, registry: registry, drainTime: configuration.drainTime, logger: logger)
        // A listener that fails (its port taken) fails `ready()` too: whatever waits for the gateway's addresses (a local
        // node, the banner) stops waiting, and the process ends with the error instead of hanging.
        let failed: @Sendable (any Error) -> Void = { error in
            tunnelPort.fail(error)
            metricsPort.fail(error)
            addresses.fail(error)
        }
        services =
            [ListenerService(tunnel, onFailure: failed), ledger, power] + (openADR.map { [$0] } ?? []) + identityTicks + presence
            + metricsApp.map { ListenerService($0, onFailure: failed) } + [ListenerService(app, onFailure: failed), drain]
    }

    /// HTTP/1.1, inside TLS when the configuration has a certificate. A connection that sends nothing for
    /// `idleTimeout` while the gateway waits on it (an unfinished head or body, an idle keep-alive) is closed:
    /// Hummingbird's idle timer restarts only on a whole head or a body part, so a head trickled byte by byte
    /// (slowloris) is cut `idleTimeout` after the connection opened or its last response ended.
    private static func serverBuilder(tls: ClientTLS?, idleTimeout: Duration) -> HTTPServerBuilder {
        let http = HTTPServerBuilder.http1(
            configuration: .init(additionalChannelHandlers: [ClientHangupDetector()], idleTimeout: TimeAmount(idleTimeout)))
        guard let tls else { return http }
        do {
            return try .tls(http, tlsConfiguration: tls.configuration)
        } catch {
            // Never fall back to plain HTTP: a server that cannot do TLS fails to start instead.
            return HTTPServerBuilder { _ in throw error }
        }
    }

    /// The bound addresses, once both listeners are up; throws when one of them failed (its port taken), or when the
    /// waiting task is cancelled.
    public func ready() async throws -> GatewayAddresses { try await addresses.value() }

    /// Creates a tenant API key, stores its hash and returns the key (shown once, never stored).
    public func createAPIKey(tenant: String) async throws -> String {
        let key = APIKeyAuthenticator.generateKey()
        try await addAPIKey(key, tenant: tenant)
        return key
    }

    /// Stores the hash of a key chosen by the operator.
    public func addAPIKey(_ key: String, tenant: String) async throws {
        try await store.addAPIKey(hash: APIKeyAuthenticator.hash(key), tenant: tenant, createdAt: Date())
    }

    /// Returns once at least `count` nodes are registered.
    public func waitForNodes(_ count: Int) async {
        let events = registry.events()
        if registry.nodeIDs.count >= count { return }
        for await _ in events where registry.nodeIDs.count >= count { return }
    }

    /// Nodes registered right now.
    public var connectedNodes: [NodeID] { registry.nodeIDs }

    private static func makeRouter(
        relay: InferenceRelay, registry: NodeRegistry, metrics: GatewayMetrics, identity: GatewayIdentity?,
        admission: RequestAdmission
    ) -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: OpenAIErrorMiddleware())
        router.post("/v1/chat/completions") { request, context in
            try await relay.handle(request, endpoint: .chatCompletions, clientChannel: context.channel)
        }
        router.post("/v1/completions") { request, context in
            try await relay.handle(request, endpoint: .completions, clientChannel: context.channel)
        }
        // The Responses API, served as chat completions (every engine takes those) and answered in its own shape.
        router.post("/v1/responses") { request, context in
            try await relay.handle(request, endpoint: .chatCompletions, responsesAPI: true, clientChannel: context.channel)
        }
        router.get("/v1/responses/**") { _, _ -> Response in
            throw OpenAIError(
                status: .notFound, message: "Hearth stores no responses: read each answer when it is returned.",
                type: "invalid_request_error", param: "response_id", code: "response_not_found")
        }
        @Sendable func modelObject(_ model: ServedModel) -> [String: Any] {
            ["id": model.id, "object": "model", "created": 0, "owned_by": "hearth", "context_length": model.contextTokens]
        }
        @Sendable func json(_ object: Any) throws -> Response {
            let body = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/v1/models") { _, _ -> Response in
            try json(["object": "list", "data": registry.servedModels().map(modelObject)])
        }
        // One model (`models.retrieve`); ids may hold slashes (`org/name`), so the rest of the path is the id.
        router.get("/v1/models/**") { _, context -> Response in
            let id = context.parameters.getCatchAll().joined(separator: "/")
            guard let model = registry.servedModels().first(where: { $0.id == id }) else { throw OpenAIError.modelNotFound(id) }
            return try json(modelObject(model))
        }
        router.get("/healthz") { _, _ in "ok\n" }
        // Whether this replica takes requests: a load balancer must send work to a fresh replica before any node has
        // dialled it (nodes pick gateways too), and must stop the moment it drains. The body counts the nodes.
        router.get("/readyz") { _, _ -> Response in
            let nodes = registry.nodeIDs.count
            let draining = admission.isDraining
            let body = ByteBuffer(string: draining ? "not ready: draining\n" : "ready: \(nodes) nodes\n")
            return Response(
                status: draining ? .serviceUnavailable : .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: body))
        }
        // Metrics name nodes, their power and load: on the client port, operators only (a scrape config sends the key).
        router.get("/metrics") { request, _ -> Response in
            _ = try await AdminRoutes.authorize(request, identity: identity)
            return metricsResponse(registry: registry, metrics: metrics)
        }
        return router
    }

    private static func metricsResponse(registry: NodeRegistry, metrics: GatewayMetrics) -> Response {
        metrics.nodes(registry.nodeIDs.count)
        metrics.nodeGauges.update(
            registry.sessions().map {
                NodeGauges.Reading(node: $0.id, admitting: registry.scheduler.isAdmitting($0.id), heartbeat: $0.lastHeartbeat)
            })
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.render()))
        )
    }
}

/// Where a running gateway listens.
public struct GatewayAddresses: Sendable, Equatable {
    public var host: String
    public var httpPort: Int
    public var tunnelPort: Int
    /// Whether the client API is HTTPS.
    public var usesTLS = false
    /// The operators-only metrics listener's port (``GatewayConfiguration/metricsListener``); nil: none.
    public var metricsPort: Int? = nil

    public var baseURL: String { "\(usesTLS ? "https" : "http")://\(host):\(httpPort)" }
}

/// Runs the identity's periodic checks (missed heartbeats, expired certificates) once per heartbeat interval, and,
/// on a store shared with other replicas, follows their writes.
struct IdentityTicker: Service {
    let identity: GatewayIdentity
    let interval: TimeAmount

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await identity.followOtherReplicas() }
                while !Task.isCancelled {
                    await identity.tick()
                    do { try await Task.sleep(for: .nanoseconds(interval.nanoseconds)) } catch { break }
                }
                group.cancelAll()
            }
        }
    }
}

/// A listener the gateway runs, which reports its failure (to bind, mostly) before the service group hears of it.
struct ListenerService: Service {
    let inner: any Service
    let onFailure: @Sendable (any Error) -> Void

    init(_ inner: any Service, onFailure: @escaping @Sendable (any Error) -> Void) {
        self.inner = inner
        self.onFailure = onFailure
    }

    func run() async throws {
        do {
            try await inner.run()
        } catch {
            onFailure(error)
            throw error
        }
    }
}
