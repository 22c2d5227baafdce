import ArgumentParser
import Foundation
import HearthCore
import ServiceLifecycle

/// `hearth node`: one node agent that dials a gateway.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run a node agent that dials out to a gateway and serves requests on its engine."
    )

    @Option(help: "The gateway's node endpoint, as HOST:PORT or tcp://HOST:PORT.")
    var gateway: String

    @Option(help: "This node's id (1-128 of A-Z a-z 0-9 . _ -). Defaults to the host name.")
    var nodeId: String = ProcessInfo.processInfo.hostName

    @OptionGroup var engine: EngineOptions
    @OptionGroup var power: PowerOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        _ = try Self.parseAddress(gateway)
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
        return (String(rest[..<colon]), port)
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "hearth.node")
        let address = try Self.parseAddress(gateway)
        let client = NodeAssembly.makeHTTPClient()
        let node = try NodeAssembly.make(
            index: 0,
            nodeID: NodeID(nodeId),
            options: engine,
            power: power,
            gatewayHost: address.host,
            gatewayPort: address.port,
            client: client,
            logger: logger
        )
        let group = ServiceGroup(services: node.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        do { try await group.run() } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
