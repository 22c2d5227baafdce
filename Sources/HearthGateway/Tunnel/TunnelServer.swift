import HearthTunnel
public import Logging
public import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle

/// Settings for the endpoint that node agents dial.
public struct TunnelServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port; ``TunnelServer/onBound`` reports it.
    public var port = 7070
    public var heartbeatInterval: TimeAmount = .seconds(1)
    public var missedHeartbeatsBeforeDead = 3
    /// Largest frame a node may send. Nodes send body chunks of at most 64 KiB.
    public var maximumFrameBytes = 1 << 20
    /// How long a connection may take (TLS handshake included) to send its hello before it is closed: a
    /// connection that never registers would otherwise hold a socket forever.
    public var helloTimeout: TimeAmount = .seconds(10)

    public init() {}
}

/// Accepts node agents' outbound tunnels. A `Service`: it runs until graceful shutdown.
public final class TunnelServer: Service {
    private let configuration: TunnelServerConfiguration
    private let registry: NodeRegistry
    private let identity: GatewayIdentity?
    private let store: any FleetStore
    private let logger: Logger
    private let onBound: @Sendable (Int) async -> Void

    package init(
        configuration: TunnelServerConfiguration,
        registry: NodeRegistry,
        identity: GatewayIdentity?,
        store: any FleetStore,
        logger: Logger,
        onBound: @escaping @Sendable (Int) async -> Void
    ) {
        self.configuration = configuration
        self.registry = registry
        self.identity = identity
        self.store = store
        self.logger = logger
        self.onBound = onBound
    }

    public func run() async throws {
        let registry = self.registry
        let identity = self.identity
        let store = self.store
        let configuration = self.configuration
        let logger = self.logger
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // With identities, the tunnel is mutual TLS only: no certificate from the fleet CA, no connection.
                    if let identity { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: identity.serverContext)) }
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(TunnelFrameDecoder(maximumFrameBytes: configuration.maximumFrameBytes)),
                        MessageToByteHandler(TunnelFrameEncoder()),
                        GatewayTunnelHandler(
                            registry: registry, identity: identity, store: store, configuration: configuration, logger: logger),
                    ])
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        let port = server.localAddress?.port ?? configuration.port
        logger.info("node tunnel endpoint listening", metadata: ["address": "\(configuration.host):\(port)"])
        let watchdog = TunnelWatchdog.start(
            registry: registry, interval: configuration.heartbeatInterval, missedBeforeDead: configuration.missedHeartbeatsBeforeDead,
            logger: logger, on: server.eventLoop)
        await onBound(port)
        try? await gracefulShutdown()
        watchdog.cancel()
        try? await server.close()
        for id in registry.nodeIDs {
            try? await registry.session(id)?.channel.close()
        }
    }
}
