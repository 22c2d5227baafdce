import ArgumentParser
import AsyncHTTPClient
import Foundation
import HearthCore
import HearthGateway
import HearthNode
import Logging
import ServiceLifecycle

/// `hearth up`: a gateway and a few local node agents in one process, each node with its own engine.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start a gateway and local node agents on loopback, then stream a first answer.",
        discussion: """
            Everything binds 127.0.0.1. With the default llama engine each node starts its own llama-server \
            with SmolLM2-135M-Instruct; if the engine or model is missing, scripts/install-engine.sh installs \
            them into $HEARTH_CACHE (default ~/.cache/hearth) first. The gateway serves plain HTTP on loopback; \
            use a TLS-terminating gateway for anything else. Ctrl-C stops everything, engines included.
            """
    )

    @Option(help: "Gateway HTTP port (0 picks a free one).")
    var port: Int = 8080

    @Option(help: "Node agents to start: 1-64, or up to 256 with --engine sim (with --engine openai: one per --engine-urls entry instead).")
    var nodes: Int = 2

    @Option(help: "Folder for the fleet database and the development API key.")
    var dataDir: String = ".hearth"

    @Option(help: "Use this API key for the dev tenant instead of the one in <data-dir>/dev-api-key.")
    var apiKey: String?

    @Option(help: "Scheduling policy: slo-aware (default), least-loaded, prefix-affinity, round-robin.")
    var policy: SchedulingPolicyKind = .sloAware

    @Flag(help: "Do not stream a first answer once the nodes are up.")
    var noDemo = false

    @Option(
        help: "On SIGTERM or SIGINT: seconds to let requests in flight finish (new ones get 503) before the gateway and its nodes stop.")
    var drainSeconds: Double = 30

    @Option(
        help: ArgumentHelp(
            "JSON file of prices in dollars per million tokens, per model and task class (see hearth gateway --help).",
            valueName: "file"))
    var prices: String?

    @OptionGroup var engine: EngineOptions
    @OptionGroup var power: PowerOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535") }
        guard drainSeconds.isFinite, (0...3600).contains(drainSeconds) else { throw ValidationError("--drain-seconds must be 0-3600") }
        // Simulated nodes cost no engine process: a fleet of them measures the gateway at fleet size.
        let maximumNodes = engine.engine == .sim ? 256 : 64
        guard (1...maximumNodes).contains(nodes) else {
            throw ValidationError("--nodes must be between 1 and \(maximumNodes) with --engine \(engine.engine.rawValue)")
        }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "hearth.up")
        try DevAPIKey.prepare(dataDirectory: dataDir)
        let store = try SQLiteFleetStore(path: dataDir + "/fleet.sqlite")
        var configuration = GatewayConfiguration()
        configuration.cacheSecret = try GatewayConfiguration.loadOrCreateCacheSecret(dataDirectory: dataDir)
        configuration.port = port
        configuration.schedulingPolicy = policy
        configuration.tunnel.port = 0
        if let prices { configuration.prices = try PriceFile.read(prices) }
        configuration.drainTime = .milliseconds(Int64(drainSeconds * 1000))
        let identity = try await FleetIdentitySetup.openGatewayIdentity(dataDirectory: dataDir, tunnelHost: "127.0.0.1", logger: logger)
        let gateway = Gateway(configuration: configuration, store: store, identity: identity, logger: logger)
        let (key, keyPath) = try await DevAPIKey.loadOrCreate(dataDirectory: dataDir, gateway: gateway, override: apiKey)

        try await NodeAssembly.withHTTPClient { client in
            let count = engine.engine == .openai ? engine.urls.count : nodes
            // The nodes first: the service group stops services in reverse order, so the gateway drains (its requests
            // in flight finish on these nodes) before the nodes stop.
            var services: [any Service] = []
            for index in 0..<count {
                let nodeIdentity = try await FleetIdentitySetup.enrollLocalNode(
                    NodeID("node-\(index + 1)"), identity: identity, dataDirectory: dataDir)
                let node = try NodeAssembly.make(
                    index: index,
                    nodeID: NodeID("node-\(index + 1)"),
                    options: engine,
                    power: power,
                    identity: nodeIdentity,
                    gateways: [GatewayEndpoint(host: "127.0.0.1", port: 0)],
                    gatewayConnections: 1,
                    locateGateway: {
                        // A gateway that could not start has no address: the dial fails at once, and the agent stops
                        // with the rest of the process.
                        guard let addresses = try? await gateway.ready() else { return ("127.0.0.1", 0) }
                        return (addresses.host, addresses.tunnelPort)
                    },
                    client: client,
                    logger: logger
                )
                services += node.services
            }
            services += gateway.services
            let announcer = Announcer(
                gateway: gateway,
                nodes: count,
                keyPath: keyPath,
                key: key,
                modelName: engine.engine == .openai ? nil : engine.modelName,
                demo: !noDemo,
                client: client
            )
            let group = ServiceGroup(
                configuration: .init(
                    services: services.map { .init(service: $0) }
                        + [.init(service: announcer, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        }
        printFlushed("Hearth stopped.\n")
    }
}

/// Prints where the gateway is once every node registered, and streams a first answer.
private struct Announcer: Service {
    let gateway: Gateway
    let nodes: Int
    let keyPath: String
    let key: String
    let modelName: String?
    let demo: Bool
    let client: HTTPClient

    func run() async throws {
        // Told to stop before the gateway is up: stop waiting.
        let addresses = try await cancelWhenGracefulShutdown { try await gateway.ready() }
        // Nodes that never come (an engine that does not answer) must not keep Ctrl-C from stopping everything.
        try await cancelWhenGracefulShutdown {
            await gateway.waitForNodes(nodes)
            try Task.checkCancellation()
        }
        let model = modelName ?? "MODEL"
        printFlushed(
            """

            Hearth is up: gateway \(addresses.baseURL) (plain HTTP on loopback; node tunnels use mutual TLS), \(nodes) node(s) connected.
            Operators: hearth nodes list --data-dir <data-dir> (operator key in <data-dir>/operator-key).
            API key for tenant 'dev': \(keyPath)
            Stream an answer:
              curl -N \(addresses.baseURL)/v1/chat/completions \\
                -H "Authorization: Bearer $(cat \(keyPath))" -H 'Content-Type: application/json' \\
                -d '{"model":"\(model)","stream":true,"messages":[{"role":"user","content":"Say hello in one sentence."}]}'
            Or: hearth chat "Say hello" --url \(addresses.baseURL) --api-key-file \(keyPath)
            Ctrl-C stops everything.

            """
        )
        guard demo else { return }
        printFlushed("First streamed answer: ")
        do {
            try await ChatClient.stream(
                baseURL: addresses.baseURL,
                apiKey: key,
                model: modelName,
                prompt: "Say hello to a new Hearth user in one sentence.",
                maxTokens: 48,
                client: client
            ) { text in
                printFlushed(text)
            }
            printFlushed("\n\n")
        } catch {
            printFlushed("\n(first answer failed: \(error))\n")
        }
    }
}
