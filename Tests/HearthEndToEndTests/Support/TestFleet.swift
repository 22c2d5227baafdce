import AsyncHTTPClient
import Foundation
import HearthCore
import HearthGateway
import HearthIdentity
import HearthNode
import HearthProtocol
import Logging
import NIOCore
import ServiceLifecycle

/// A real gateway and real node agents in this process, on loopback ports the kernel picks.
/// `withTestFleet` starts them, waits until every node registered, runs the body and shuts down.
struct TestFleet: Sendable {
    let gateway: Gateway
    var addresses: GatewayAddresses
    let apiKey: String
    let client: HTTPClient
    let agents: [NodeAgent]
    /// Starts the fleet's graceful shutdown, as SIGTERM does (the gateway drains first); `withTestFleet` still waits
    /// for it to end after the body.
    let shutDown: @Sendable () async -> Void

    var baseURL: String { addresses.baseURL }
}

struct TestNodeSpec: Sendable {
    var id: String
    var engine: any Engine
    /// Extra services the engine needs running (a llama-server supervisor).
    var services: [any Service] = []
    /// The node's power loop, when the test gives it a home panel.
    var power: PowerController? = nil
    /// Tamper signals the test injects.
    var tamper: (any TamperSensor)? = nil
    /// When the node judges its link degraded (default: the agent's own thresholds).
    var linkQuality: LinkQualityEstimator.Configuration? = nil
    /// With `linkQuality`: whether the scripted link on loopback may drain the node (see `NodeAgentConfiguration`).
    var judgesLoopbackLink = true
}

/// With `identities`, the fleet runs a fleet CA and mutual-TLS tunnels; every node enrolls first.
struct TestIdentities: Sendable {
    var certificateLifetime: Duration = .seconds(3600)
    var allowedMeasurements: Set<String> = []
}

func withTestFleet<Result: Sendable>(
    nodes: [TestNodeSpec],
    configure: (inout GatewayConfiguration) -> Void = { _ in },
    identities: TestIdentities? = nil,
    sharedIdentity: GatewayIdentity? = nil,
    waitForNodes: Bool = true,
    store givenStore: (any FleetStore)? = nil,
    nodesOutliveTheGateway: Bool = false,
    gatewayLogger: Logger? = nil,
    _ body: (TestFleet) async throws -> Result
) async throws -> Result {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    var logger = Logger(label: "hearth.test")
    logger.logLevel = ProcessInfo.processInfo.environment["HEARTH_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical

    var configuration = GatewayConfiguration()
    configuration.port = 0
    configuration.tunnel.port = 0
    // Tests run side by side on two cores: a busy box must not look like a dead node. The liveness tests set
    // their own tight limits.
    configuration.tunnel.missedHeartbeatsBeforeDead = 15
    // Tests read /metrics from the operators' listener (the client port asks for an operator key).
    configuration.metricsListener = MetricsListener(port: 0)
    // A test's requests end with its body; one still running then is cut after this (not the 30 s default).
    configuration.drainTime = .seconds(2)
    configure(&configuration)
    // SQLite in the test's folder unless the test brings a store (PostgreSQL).
    let store = try givenStore ?? SQLiteFleetStore(path: directory.appendingPathComponent("fleet.sqlite").path)
    // A replica of a fleet whose identity (CA folder, records in PostgreSQL) the test opened for several gateways.
    var identity: GatewayIdentity? = sharedIdentity
    if let identities {
        var identityConfiguration = IdentityConfiguration(directory: directory.appendingPathComponent("gateway").path)
        identityConfiguration.certificateLifetime = identities.certificateLifetime
        identityConfiguration.allowedMeasurements = identities.allowedMeasurements
        identityConfiguration.heartbeatIntervalSeconds = Double(configuration.tunnel.heartbeatInterval.nanoseconds) / 1e9
        identityConfiguration.missedHeartbeatLimit = configuration.tunnel.missedHeartbeatsBeforeDead
        identity = try await GatewayIdentity.open(configuration: identityConfiguration, logger: logger)
    }
    let gateway = Gateway(configuration: configuration, store: store, identity: identity, logger: gatewayLogger ?? logger)
    let apiKey = try await gateway.createAPIKey(tenant: "tenant-a")

    var nodeIdentities: [String: NodeIdentityConfiguration] = [:]
    if let identity {
        for spec in nodes {
            let agentBinary = directory.appendingPathComponent("\(spec.id)-agent.bin").path
            try Data("agent build 1".utf8).write(to: URL(fileURLWithPath: agentBinary))
            let credentials = NodeCredentialStore(directory: directory.appendingPathComponent(spec.id).path, node: NodeID(spec.id))
            let node = NodeIdentityConfiguration(credentials: credentials, agentBinary: agentBinary)
            let request = EnrollmentRequest(
                token: try await identity.createEnrollmentToken(for: NodeID(spec.id)), nodeID: NodeID(spec.id),
                csrPEM: try credentials.certificateSigningRequestPEM(), attestation: try NodeEnrollment.attestation(node))
            let grant = try await identity.enroll(request)
            try credentials.store(certificatePEM: grant.certificatePEM, authorityPEM: grant.authorityPEM)
            nodeIdentities[spec.id] = node
        }
    }

    let agents = nodes.map { spec in
        var agentConfiguration = NodeAgentConfiguration(
            nodeID: NodeID(spec.id),
            gatewayHost: "127.0.0.1",
            gatewayPort: 0,
            hardware: .init(cpuCores: 1, memoryBytes: 1 << 30, gpus: [])
        )
        // One gateway here: the second tunnel would only wait for a replica that never comes (TwoGatewayTests dial two).
        agentConfiguration.gatewayConnections = 1
        agentConfiguration.identity = nodeIdentities[spec.id]
        agentConfiguration.tamperSensor = spec.tamper
        if let linkQuality = spec.linkQuality {
            // A scripted link on loopback: judged like a real one.
            agentConfiguration.linkQuality = linkQuality
            agentConfiguration.judgesLoopbackLink = spec.judgesLoopbackLink
        }
        agentConfiguration.initialReconnectDelay = .milliseconds(20)
        agentConfiguration.maximumReconnectDelay = .milliseconds(200)
        return NodeAgent(configuration: agentConfiguration, engine: spec.engine, logger: logger, power: spec.power) {
            guard let addresses = try? await gateway.ready() else { return ("127.0.0.1", 0) }
            return (addresses.host, addresses.tunnelPort)
        }
    }
    // The group stops services in reverse order. A drain test puts the nodes first, so that the gateway drains while
    // its nodes still serve (as `hearth up` does); the others stop the nodes first, as the tests were written for.
    let nodeServices: [any Service] = nodes.flatMap(\.services) + agents
    let services = nodesOutliveTheGateway ? nodeServices + gateway.services : gateway.services + nodeServices
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    var clientConfiguration = HTTPClient.Configuration()
    clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)

    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let addresses = try await gateway.ready()
            if waitForNodes { await gateway.waitForNodes(nodes.count) }
            let fleet = TestFleet(
                gateway: gateway, addresses: addresses, apiKey: apiKey, client: client, agents: agents,
                shutDown: { await group.triggerGracefulShutdown() })
            let result = try await body(fleet)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            try await client.shutdown()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            try? await client.shutdown()
            throw error
        }
    }
}
