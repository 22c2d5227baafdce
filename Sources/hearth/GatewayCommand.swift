import ArgumentParser
import Foundation
import HearthCore
import HearthGateway
import NIOCore
import ServiceLifecycle

/// `hearth gateway`: a gateway alone; node agents dial its tunnel endpoint.
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Run a gateway: the OpenAI-compatible API and the endpoint node agents dial."
    )

    @Option(help: "Address for the client API.")
    var host: String = "127.0.0.1"

    @Option(help: "Port for the client API (0 picks a free one).")
    var port: Int = 8080

    @Option(help: "PEM certificate chain for the client API; with --tls-key, the API is HTTPS only (TLS 1.2+).")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "Address node agents dial.")
    var tunnelHost: String = "127.0.0.1"

    @Option(help: "Port node agents dial.")
    var tunnelPort: Int = 7070

    @Option(help: "Folder for the fleet database and the development API key.")
    var dataDir: String = ".hearth"

    @Option(help: "Largest request body in bytes (413 above it).")
    var maxBodyBytes: Int = 16 << 20

    @Option(help: "Heartbeat interval nodes must keep, in milliseconds; a node silent for 3 intervals is dropped.")
    var heartbeatMs: Int = 1000

    @Option(help: "Seconds a node may take to produce the first byte of an answer (504 after).")
    var firstByteTimeout: Int = 120

    @Option(
        help:
            "Seconds an API key's tenant policy is served from memory: the most a key revoked by `hearth keys revoke` keeps working (0: read the store on every request)."
    )
    var apiKeyCacheSeconds: Double = 1

    @Option(help: "Scheduling policy: slo-aware (default), least-loaded, prefix-affinity, round-robin.")
    var policy: SchedulingPolicyKind = .sloAware

    @Option(help: "JSON file of transformers and the home and transformer of each node (docs/POWER.md).")
    var powerSites: String?

    @Option(
        help: ArgumentHelp(
            "JSON file of prices in dollars per million tokens, per model and task class: each usage row's cost, and what tenants' budgets (hearth keys create --budget-usd) are spent against. Default: free.",
            valueName: "file"))
    var prices: String?

    @OptionGroup(title: "OpenADR (grid events)")
    var openADR: OpenADROptions

    @Option(
        help:
            "Seconds a client connection may send nothing while the gateway waits on it (an unfinished request head or body, an idle keep-alive) before it is closed."
    )
    var clientIdleTimeout: Double = 30

    @Option(
        help: "Also serve /metrics without a key on this port, for a private network (the client port serves it to operator keys only).")
    var metricsPort: Int?

    @Option(help: "Address of the --metrics-port listener.")
    var metricsHost: String = "127.0.0.1"

    @Option(
        help:
            "On SIGTERM or SIGINT: seconds to let requests in flight finish (new ones get 503 and /readyz answers 503 at once) before the gateway closes its node tunnels and exits."
    )
    var drainSeconds: Double = 30

    @Flag(help: "Race a second node for the first token when the placed one may miss its TTFT target (docs/RESILIENCE.md).")
    var hedge = false

    @Flag(help: "Accept plain (unauthenticated) node tunnels instead of mutual TLS with the fleet CA. Development only.")
    var insecurePlainTunnel = false

    @OptionGroup var fleetStore: FleetStoreOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (0...65535).contains(port), (0...65535).contains(tunnelPort) else { throw ValidationError("ports must be 0-65535") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        guard (10...60_000).contains(heartbeatMs) else { throw ValidationError("--heartbeat-ms must be 10-60000") }
        guard firstByteTimeout >= 1 else { throw ValidationError("--first-byte-timeout must be at least 1") }
        guard apiKeyCacheSeconds.isFinite, (0...3600).contains(apiKeyCacheSeconds) else {
            throw ValidationError("--api-key-cache-seconds must be between 0 and 3600")
        }
        guard clientIdleTimeout.isFinite, (0.1...3600).contains(clientIdleTimeout) else {
            throw ValidationError("--client-idle-timeout must be 0.1-3600 seconds")
        }
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be 0-65535") }
        guard drainSeconds.isFinite, (0...3600).contains(drainSeconds) else { throw ValidationError("--drain-seconds must be 0-3600") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "hearth.gateway")
        try DevAPIKey.prepare(dataDirectory: dataDir)
        var configuration = GatewayConfiguration()
        configuration.cacheSecret = try GatewayConfiguration.loadOrCreateCacheSecret(dataDirectory: dataDir)
        configuration.host = host
        if let tlsCert, let tlsKey {
            do { configuration.clientTLS = try ClientTLS.load(certificatePath: tlsCert, keyPath: tlsKey) } catch {
                throw ValidationError("cannot serve the client API over TLS: \(error)")
            }
        }
        configuration.port = port
        configuration.schedulingPolicy = policy
        configuration.maximumBodyBytes = maxBodyBytes
        configuration.firstByteTimeout = .seconds(firstByteTimeout)
        configuration.apiKeyCacheSeconds = apiKeyCacheSeconds
        configuration.tunnel.host = tunnelHost
        configuration.tunnel.port = tunnelPort
        configuration.tunnel.heartbeatInterval = .milliseconds(Int64(heartbeatMs))
        configuration.hedging.enabled = hedge
        configuration.clientIdleTimeout = .milliseconds(Int64(clientIdleTimeout * 1000))
        configuration.drainTime = .milliseconds(Int64(drainSeconds * 1000))
        configuration.metricsListener = metricsPort.map { MetricsListener(host: metricsHost, port: $0) }
        if let powerSites {
            configuration.power = try PowerSiteConfiguration.decode(try Data(contentsOf: URL(fileURLWithPath: powerSites)))
        }
        if let prices { configuration.prices = try PriceFile.read(prices) }
        configuration.openADR = try openADR.configuration(environment: ProcessInfo.processInfo.environment)
        try await fleetStore.withStore(sqlitePath: dataDir + "/fleet.sqlite", logger: logger) { store in
            // On a PostgreSQL store the trust records are the replicas' shared ones (the CA still lives in the folder).
            let identity =
                insecurePlainTunnel
                ? nil
                : try await FleetIdentitySetup.openGatewayIdentity(
                    dataDirectory: dataDir, tunnelHost: tunnelHost, fleetStore: store, logger: logger)
            let gateway = Gateway(configuration: configuration, store: store, identity: identity, logger: logger)
            let (_, keyPath) = try await DevAPIKey.loadOrCreate(dataDirectory: dataDir, gateway: gateway, override: nil)
            let announce = AnnounceGateway(gateway: gateway, keyPath: keyPath)
            let group = ServiceGroup(
                configuration: .init(
                    services: gateway.services.map { .init(service: $0) }
                        + [.init(service: announce, successTerminationBehavior: .ignore)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        }
    }
}

private struct AnnounceGateway: Service {
    let gateway: Gateway
    let keyPath: String

    func run() async throws {
        // Told to stop before the gateway is up: stop waiting.
        let addresses = try await cancelWhenGracefulShutdown { try await gateway.ready() }
        let tunnel = "\(gateway.configuration.tunnel.host):\(addresses.tunnelPort)"
        let security =
            gateway.identity == nil
            ? "plain node tunnels (--insecure-plain-tunnel)"
            : "mutual TLS; enroll a node with: hearth nodes enroll-token --node ID --gateway \(addresses.baseURL)"
        let api = addresses.usesTLS ? "HTTPS, TLS 1.2+" : "plain HTTP: use --tls-cert/--tls-key beyond loopback"
        let metrics =
            addresses.metricsPort.map { "; /metrics without a key on \(gateway.configuration.metricsListener?.host ?? "127.0.0.1"):\($0)" }
            ?? ""
        print("Gateway at \(addresses.baseURL) (\(api)); nodes dial \(tunnel) (\(security)); dev API key in \(keyPath)\(metrics)")
    }
}
