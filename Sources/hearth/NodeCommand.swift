import ArgumentParser
import Foundation
import HearthCore
import HearthIdentity
import HearthNode
import HearthPanel
import ServiceLifecycle

/// `hearth node`: one node agent that dials a gateway.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node agent that dials out to a gateway and serves requests on its engine."
    )

    @Option(
        help:
            "The gateway replicas' node endpoints, as HOST:PORT or tcp://HOST:PORT, comma-separated; a name that resolves to several addresses counts as several replicas."
    )
    var gateway: String

    @Option(help: "How many gateway replicas the node keeps a tunnel to at once (each at most once).")
    var gatewayConnections = 2

    @Option(
        help:
            "This node's id (1-128 of A-Z a-z 0-9 . _ -), the one its enrollment token names. Default: the id kept in <data-dir>/node-id, else a random one (never the host name, which often names a home or a person)."
    )
    var nodeId: String?

    @Option(help: "Folder for this node's key (mode 0600) and certificate.")
    var dataDir: String = ".hearth-node"

    @Option(help: "One-time enrollment token from the operator (hearth nodes enroll-token); needed once.")
    var enrollToken: String?

    @Option(help: "The gateway's HTTP API, for enrollment.")
    var gatewayUrl: String = "http://127.0.0.1:8080"

    @Flag(help: "Dial a gateway that accepts plain tunnels (--insecure-plain-tunnel there). Development only.")
    var insecurePlainTunnel = false

    @Option(
        help:
            "The home's own MQTT broker, for Home Assistant (mqtt://[USER@]HOST[:PORT], or mqtts:// with --home-mqtt-ca): the node shows its draw, battery, energy, credit and state there and takes pause, maximum-draw and quiet-hours controls. Off by default."
    )
    var homeMqtt: String?

    @Option(help: "What the host is credited per kWh the node draws, shown to the home with --home-mqtt (e.g. 0.32).")
    var hostCreditPerKwh: Double?

    @Option(help: "The currency of --host-credit-per-kwh (ISO 4217).")
    var hostCurrency = "USD"

    @Option(help: "File holding the password for --home-mqtt (kept out of process listings).")
    var homeMqttPasswordFile: String?

    @Option(help: "CA certificate (PEM) for an mqtts:// --home-mqtt broker.")
    var homeMqttCa: String?

    @OptionGroup var engine: EngineOptions
    @OptionGroup var power: PowerOptions
    @OptionGroup var logging: LoggingOptions

    /// `--home-mqtt` as a client configuration for this node.
    func homeMQTT(nodeID: String) throws -> MQTTClient.Configuration? {
        guard let homeMqtt else { return nil }
        guard let url = URL(string: homeMqtt), let scheme = url.scheme, ["mqtt", "mqtts"].contains(scheme), let host = url.host,
            !host.isEmpty
        else { throw ValidationError("--home-mqtt must be mqtt://[USER@]HOST[:PORT] or mqtts://..., got '\(homeMqtt)'") }
        if scheme == "mqtts", homeMqttCa == nil { throw ValidationError("--home-mqtt with mqtts:// needs --home-mqtt-ca") }
        var password: String?
        if let file = homeMqttPasswordFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("cannot read --home-mqtt-password-file \(file)")
            }
            password = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return MQTTClient.Configuration(
            host: host, port: url.port ?? (scheme == "mqtts" ? 8883 : 1883), clientID: "hearth-\(nodeID)", username: url.user,
            password: password, tls: scheme == "mqtts" ? homeMqttCa.map { MQTTClient.TLS(caFile: $0) } : nil)
    }

    func validate() throws {
        _ = try Self.parseGateways(gateway)
        guard (1...16).contains(gatewayConnections) else { throw ValidationError("--gateway-connections must be 1-16") }
        _ = try homeMQTT(nodeID: nodeId ?? "node")
        if let rate = hostCreditPerKwh, !(rate.isFinite && rate >= 0 && rate < 100) {
            throw ValidationError("--host-credit-per-kwh must be 0–100")
        }
        guard hostCurrency.count == 3, hostCurrency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            throw ValidationError("--host-currency must be an ISO 4217 code such as USD")
        }
        if let nodeId, !NodeIdentifier.isWellFormed(nodeId) {
            throw ValidationError("--node-id must be 1-128 of A-Z a-z 0-9 . _ -")
        }
    }

    /// `--gateway`'s list: one endpoint per comma-separated HOST:PORT (an IPv6 address in brackets).
    static func parseGateways(_ value: String) throws -> [GatewayEndpoint] {
        let parts = value.split(separator: ",", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty else { throw ValidationError("--gateway needs at least one HOST:PORT") }
        return try parts.map { part in
            let address = try parseAddress(part)
            return GatewayEndpoint(host: address.host, port: address.port)
        }
    }

    static func parseAddress(_ value: String) throws -> (host: String, port: Int) {
        var rest = Substring(value)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port),
            colon > rest.startIndex
        else {
            throw ValidationError("--gateway must be HOST:PORT, got '\(value)'")
        }
        var host = rest[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { throw ValidationError("--gateway must be HOST:PORT, got '\(value)'") }
        return (String(host), port)
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "hearth.node")
        let gateways = try Self.parseGateways(gateway)
        let nodeId = try NodeIdentifier.resolve(self.nodeId, dataDirectory: dataDir).rawValue
        logger.notice("node id \(nodeId)")
        try await NodeAssembly.withHTTPClient { client in
            var identity: NodeIdentityConfiguration?
            if !insecurePlainTunnel {
                let node = NodeIdentityConfiguration(
                    credentials: NodeCredentialStore(directory: dataDir, node: NodeID(nodeId)),
                    agentBinary: FleetIdentitySetup.agentBinaryPath())
                if let enrollToken {
                    try await NodeEnrollment.enroll(gatewayURL: gatewayUrl, token: enrollToken, configuration: node, client: client)
                    logger.info("enrolled with the gateway", metadata: ["node": "\(nodeId)"])
                }
                guard node.credentials.isEnrolled else {
                    throw ValidationError(
                        "node \(nodeId) is not enrolled: ask the operator for a token (hearth nodes enroll-token) and pass --enroll-token")
                }
                identity = node
            }
            let span = try await power.makeSpanPanel(logger: logger)
            let node = try NodeAssembly.make(
                index: 0,
                nodeID: NodeID(nodeId),
                options: engine,
                power: power,
                identity: identity,
                powerController: span.map { power.makeController(span: $0, logger: logger) },
                gateways: gateways,
                gatewayConnections: gatewayConnections,
                client: client,
                logger: logger
            )
            let panelService: [any Service] = span.map { [SpanPanelService(panel: $0)] } ?? []
            var homeService: [any Service] = []
            if let mqtt = try homeMQTT(nodeID: nodeId) {
                guard let controller = node.agent.power else {
                    throw ValidationError("--home-mqtt needs a power loop: give --panel sim or --panel span")
                }
                var home = HomeAssistantBridge.Configuration(mqtt: mqtt, nodeID: nodeId)
                home.creditPerKilowattHour = hostCreditPerKwh
                home.currency = hostCurrency
                homeService = [
                    HomeAssistantService(bridge: HomeAssistantBridge(configuration: home, controller: controller, logger: logger))
                ]
            }
            let group = ServiceGroup(
                services: panelService + homeService + node.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            try await group.run()
        }
    }
}

/// Publishes the node to the home's MQTT broker for the process's lifetime.
struct HomeAssistantService: Service {
    let bridge: HomeAssistantBridge

    func run() async throws {
        try await cancelWhenGracefulShutdown { try await bridge.run() }
    }
}

/// Runs the SPAN panel's MQTT client for the process's lifetime.
struct SpanPanelService: Service {
    let panel: SpanPanel<ContinuousClock>

    func run() async throws {
        try await cancelWhenGracefulShutdown { try await panel.run() }
    }
}
