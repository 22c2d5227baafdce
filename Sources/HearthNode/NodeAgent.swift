import Foundation
import HearthCore
import HearthIdentity
public import HearthProtocol
import HearthTunnel
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Synchronization

/// A node agent: dials out to its gateways (homes are behind NAT), registers, sends heartbeats and runs the gateways'
/// requests on its engine, many at once over each tunnel. It keeps tunnels to up to
/// ``NodeAgentConfiguration/gatewayConnections`` gateway replicas at once (``GatewayRoster`` picks which), reports its
/// whole load on each, and redials with jittered exponential backoff whenever a tunnel drops, preferring a replica
/// that did not just fail.
public final class NodeAgent: Service {
    public let configuration: NodeAgentConfiguration
    private let engine: any Engine
    private let logger: Logger
    private let connections = Mutex(0)
    private let profiles = Mutex<[NodeProfile]?>(nil)
    private let locateGateways: @Sendable () async -> [GatewayEndpoint]
    /// The node's power loop, when it has a home panel to read.
    public let power: PowerController?
    /// Set when tamper quarantined the node: it stops serving and never reconnects with this identity.
    private let quarantined = Mutex(false)
    /// The registered tunnels now, by channel: tamper reports go to every gateway, heartbeats count every tunnel's load.
    private let tunnels = Mutex<[ObjectIdentifier: (channel: any Channel, tunnel: NodeTunnel)]>([:])
    private let roster: Mutex<GatewayRoster<GatewayEndpoint>>
    private let measurer = SoftwareMeasurer()
    /// One link monitor per gateway address, kept across reconnects so that a link that flaps does not start clean.
    private let links = Mutex<[(endpoint: GatewayEndpoint, monitor: LinkMonitor)]>([])
    private let clock = ContinuousClock()
    private let started = ContinuousClock.now

    /// - Parameter locateGateway: where to dial, asked before each connection attempt; defaults to
    ///   the configured addresses. `hearth up` uses it to wait for the gateway's ephemeral tunnel port.
    public convenience init(
        configuration: NodeAgentConfiguration,
        engine: any Engine,
        logger: Logger,
        power: PowerController? = nil,
        locateGateway: (@Sendable () async -> (host: String, port: Int))?
    ) {
        self.init(
            configuration: configuration, engine: engine, logger: logger, power: power,
            locateGateways: locateGateway.map { locate in
                { @Sendable in
                    let gateway = await locate()
                    return [GatewayEndpoint(host: gateway.host, port: gateway.port)]
                }
            })
    }

    /// - Parameter locateGateways: the gateway replicas to choose from, asked before each connection attempt;
    ///   defaults to the configured ones, each name resolved to all its addresses.
    public init(
        configuration: NodeAgentConfiguration,
        engine: any Engine,
        logger: Logger,
        power: PowerController? = nil,
        locateGateways: (@Sendable () async -> [GatewayEndpoint])? = nil
    ) {
        self.configuration = configuration
        self.engine = engine
        self.power = power
        let configured = configuration.gateways
        self.locateGateways = locateGateways ?? { await GatewayEndpoint.resolve(configured) }
        // Each node starts its rotation of the replicas at its own place, so a street of nodes spreads over them.
        let offset = configuration.nodeID.rawValue.utf8.reduce(UInt32(2_166_136_261)) { ($0 ^ UInt32($1)) &* 16_777_619 }
        roster = Mutex(GatewayRoster(rotationOffset: Int(offset % 65_536)))
        var logger = logger
        logger[metadataKey: "node"] = "\(configuration.nodeID)"
        self.logger = logger
    }

    /// Whether tamper took the node out of service.
    public var isQuarantined: Bool { quarantined.withLock { $0 } }

    /// The node's current measurement of its link to the first gateway it reached (what its heartbeats there report).
    public var linkReport: LinkReport {
        links.withLock { $0.first?.monitor }?.report()
            ?? LinkReport(rttMilliseconds: nil, jitterMilliseconds: nil, loss: 0, degraded: false)
    }

    /// The link monitor for `endpoint`, made on first use. A gateway on this machine: the link cannot be the bottleneck,
    /// only a busy host can look like one, so it is not judged unless the configuration says so.
    private func link(to endpoint: GatewayEndpoint) -> LinkMonitor {
        links.withLock { links in
            if let known = links.first(where: { $0.endpoint == endpoint }) { return known.monitor }
            var quality = configuration.linkQuality
            if LinkMonitor.isLoopback(endpoint.host) && !configuration.judgesLoopbackLink { quality.judgesLink = false }
            let monitor = LinkMonitor(configuration: quality)
            links.append((endpoint, monitor))
            return monitor
        }
    }

    private var seconds: Double { (clock.now - started).seconds }

    /// Tunnels opened so far (a reconnect adds one).
    public var connectionCount: Int { connections.withLock { $0 } }

    public func run() async throws {
        let powerLoop = power.map { power in Task { await power.run() } }
        defer { powerLoop?.cancel() }
        let tamperLoop = configuration.tamperSensor.map { sensor in Task { await watchTamper(sensor) } }
        defer { tamperLoop?.cancel() }
        await withDiscardingTaskGroup { group in
            for _ in 0..<max(1, configuration.gatewayConnections) {
                group.addTask { await self.keepTunnel() }
            }
        }
        if isQuarantined {
            // Out of service until an operator re-enrolls the node; stay up (quietly) so that a process running
            // other services, such as `hearth up`, does not stop with it.
            logger.critical("node quarantined after tamper: not serving; re-enrollment needs an operator")
            try? await gracefulShutdown()
        }
    }

    /// One of the node's tunnels, for the agent's life: dials the replica the roster picks, serves on it until it
    /// ends, and dials again (another replica when one is free) after a jittered backoff.
    private func keepTunnel() async {
        var failures = 0
        var generator = SystemRandomNumberGenerator()
        var stopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully || isQuarantined }
        while !stopping {
            let endpoints = await locateGateways()
            let picked = roster.withLock { roster in
                roster.update(endpoints)
                return roster.pick(now: seconds)
            }
            guard let endpoint = picked else {
                // Every replica already carries one of this node's tunnels: look again later (a name may resolve to
                // more, a tunnel may end).
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.configuration.maximumReconnectDelay) }
                continue
            }
            var registered = false
            do {
                registered = try await runConnection(to: endpoint)
            } catch {
                logger.warning("tunnel to gateway failed", metadata: ["gateway": "\(endpoint)", "error": "\(error)"])
            }
            roster.withLock { $0.ended(endpoint, registered: registered, now: seconds) }
            if stopping { break }
            failures = registered ? 1 : failures + 1
            let delay = Self.backoff(failures: failures, configuration: configuration, using: &generator)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
        }
    }

    /// Streams the node runs for gateways other than the one on `channel`.
    private func streamsElsewhere(than channel: any Channel) -> Int {
        let key = ObjectIdentifier(channel)
        let others = tunnels.withLock { $0.filter { $0.key != key }.map(\.value.tunnel) }
        return others.reduce(0) { $0 + $1.activeStreamCount }
    }

    // MARK: identity

    /// Re-attests at every connection (which also lifts a missed-heartbeat quarantine) and whenever the
    /// certificate passes half its life.
    private func keepCertificateFresh(_ identity: NodeIdentityConfiguration, channel: any Channel) async {
        var first = true
        while !Task.isCancelled {
            let due: Bool = {
                guard let certificate = identity.credentials.certificate() else { return false }
                return identity.certificates.shouldRenew(
                    now: Date().timeIntervalSince1970, notBefore: certificate.notValidBefore.timeIntervalSince1970,
                    notAfter: certificate.notValidAfter.timeIntervalSince1970)
            }()
            if first || due {
                do {
                    let request = RenewalRequest(
                        csrPEM: try identity.credentials.certificateSigningRequestPEM(),
                        attestation: try NodeEnrollment.attestation(identity, measurer: measurer))
                    try await channel.writeAndFlush(TunnelFrame.json(.renewRequest, request))
                } catch {
                    logger.warning("could not ask for certificate renewal", metadata: ["error": "\(error)"])
                }
                first = false
            }
            do { try await Task.sleep(for: configuration.renewalCheckInterval) } catch { return }
        }
    }

    private func storeRenewal(_ frame: TunnelFrame) {
        guard let identity = configuration.identity, let response = try? frame.decodeJSON(RenewalResponse.self) else { return }
        if let grant = response.grant {
            do {
                try identity.credentials.store(certificatePEM: grant.certificatePEM, authorityPEM: grant.authorityPEM)
                logger.info("certificate renewed", metadata: ["not_after": "\(Date(timeIntervalSince1970: grant.notAfter))"])
            } catch {
                logger.error("could not store the renewed certificate", metadata: ["error": "\(error)"])
            }
        } else {
            logger.error("certificate renewal denied", metadata: ["reason": "\(response.denied ?? "unknown")"])
        }
    }

    // MARK: tamper

    /// Feeds the sensor's signals to HearthCore's ``TamperMonitor`` and carries out what it decides: stop
    /// serving, tell the gateway while the key still exists, then destroy the key.
    private func watchTamper(_ sensor: any TamperSensor) async {
        var monitor = TamperMonitor(
            baseline: TamperMonitor.Baseline(gpuSerials: configuration.identity?.gpuSerials ?? []))
        let clock = ContinuousClock()
        let start = clock.now
        for await signal in sensor.signals() {
            let now = (clock.now - start).seconds
            for action in monitor.handle(.signal(signal), now: now) {
                switch action {
                case .quarantine(let findings):
                    logger.critical("tamper: node quarantined itself", metadata: ["findings": "\(findings.map(\.rawValue))"])
                    quarantined.withLock { $0 = true }
                    power?.gate.pause()
                case .report(let report):
                    for channel in tunnels.withLock({ $0.values.map(\.channel) }) {
                        try? await channel.writeAndFlush(TunnelFrame.json(.tamperReport, report))
                    }
                case .zeroizeSecrets:
                    configuration.identity?.credentials.zeroize()
                    for channel in tunnels.withLock({ $0.values.map(\.channel) }) { try? await channel.close() }
                }
            }
        }
    }

    /// Exponential backoff with full jitter between half and all of the step, so a street of nodes
    /// that lost the same link does not reconnect in lockstep.
    static func backoff(failures: Int, configuration: NodeAgentConfiguration, using generator: inout some RandomNumberGenerator) -> Duration
    {
        let step = configuration.initialReconnectDelay * (1 << min(failures - 1, 16))
        let capped = min(step, configuration.maximumReconnectDelay)
        return capped * Double.random(in: 0.5...1.0, using: &generator)
    }

    /// Profiles measured once per agent lifetime (the engine does not change between reconnects).
    private func calibratedProfiles(_ models: [ServedModel]) async throws -> [NodeProfile] {
        if let cached = profiles.withLock({ $0 }) { return cached }
        var measured: [NodeProfile] = []
        for model in models {
            if let profile = await engine.calibrate(model) { measured.append(profile) }
        }
        logger.info(
            "calibrated engine",
            metadata: [
                "profiles":
                    "\(measured.map { "\($0.model): \(Int($0.prefillTokensPerSecond)) prefill tok/s, \(Int($0.decodeBaseSeconds * 1000)) ms/step" })"
            ])
        profiles.withLock { $0 = measured }
        return measured
    }

    /// One tunnel's life. Returns whether the node got registered before the tunnel ended.
    private func runConnection(to gateway: GatewayEndpoint) async throws -> Bool {
        let inbox = FrameInbox()
        let maximumFrameBytes = configuration.maximumFrameBytes
        // With an identity the tunnel is mutual TLS: read the credentials afresh, a renewal may have replaced them.
        let tls = try configuration.identity.map { try NodeEnrollment.tlsContext($0.credentials) }
        let serverName = gateway.tlsServerName
        let link = self.link(to: gateway)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        LinkThroughputSampler { bytes, seconds in link.transferred(bytes: bytes, seconds: seconds, at: .now) })
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(TunnelFrameDecoder(maximumFrameBytes: maximumFrameBytes)),
                        MessageToByteHandler(TunnelFrameEncoder()),
                        inbox,
                    ])
                }
            }
            .connect(host: gateway.host, port: gateway.port)
            .get()
        connections.withLock { $0 += 1 }
        var logger = self.logger
        logger[metadataKey: "gateway"] = "\(gateway)"
        let tunnel = NodeTunnel(channel: channel, engine: engine, configuration: configuration, power: power, link: link, logger: logger)
        let key = ObjectIdentifier(channel)
        tunnels.withLock { $0[key] = (channel, tunnel) }
        defer {
            tunnels.withLock { $0[key] = nil }
            tunnel.closed()
        }
        inbox.routeStreamFrames { tunnel.handle($0) }

        let models = try await engine.models()
        let profiles = try await calibratedProfiles(models)
        // Tried, not assumed: the gateway sends tenants' cache salts only to an engine that showed it honours them.
        let saltProbe = if let model = models.first { await engine.probeCacheSalt(model: model) } else { CacheSaltProbeResult?.none }
        let hello = NodeHello(
            nodeID: configuration.nodeID,
            models: models,
            engineKind: engine.kind,
            hardware: configuration.hardware,
            slots: engine.slots,
            profiles: profiles,
            cacheSaltProbe: saltProbe
        )
        channel.writeAndFlush(TunnelFrame.json(.hello, hello), promise: nil)

        return try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                // Power limits apply one at a time, in order, off the frame loop (setting a GPU limit takes a while).
                let (limits, limitSink) = AsyncStream<PowerLimit>.makeStream()
                if let power {
                    group.addTask { for await limit in limits { await power.apply(limit) } }
                }
                defer { limitSink.finish() }
                var registered = false
                for try await frame in inbox.frames {
                    if !registered {
                        guard frame.kind == .welcome else {
                            let reason = (try? frame.decodeJSON(TunnelErrorMessage.self))?.message ?? "\(frame.kind) before welcome"
                            logger.error("gateway refused registration", metadata: ["reason": "\(reason)"])
                            try? await channel.close()
                            throw TunnelErrorMessage(code: .notRegistered, message: reason)
                        }
                        let welcome = try frame.decodeJSON(GatewayWelcome.self)
                        registered = true
                        logger.info("registered with gateway", metadata: ["models": "\(models.map(\.id))"])
                        group.addTask {
                            await tunnel.sendHeartbeats(every: .milliseconds(welcome.heartbeatIntervalMilliseconds)) {
                                self.streamsElsewhere(than: channel)
                            }
                        }
                        if let identity = configuration.identity {
                            group.addTask { await self.keepCertificateFresh(identity, channel: channel) }
                        }
                        continue
                    }
                    if frame.kind == .goingAway {
                        // The gateway drains: its streams here finish, then it closes the tunnel and the agent redials
                        // (another replica, or this one restarted); the node's other tunnels serve meanwhile.
                        logger.notice("gateway is shutting down; running streams finish, then the agent redials")
                        roster.withLock { $0.goingAway(gateway, now: seconds) }
                        continue
                    }
                    if frame.kind == .renewed {
                        storeRenewal(frame)
                        continue
                    }
                    if frame.kind == .powerLimit {
                        do { limitSink.yield(try frame.decodeJSON(PowerLimit.self)) } catch {
                            logger.warning("unreadable power limit from gateway", metadata: ["error": "\(error)"])
                        }
                        continue
                    }
                    tunnel.handle(frame)
                }
                limitSink.finish()
                group.cancelAll()
                return registered
            }
        } onGracefulShutdown: {
            channel.writeAndFlush(TunnelFrame(kind: .goingAway), promise: nil)
            channel.close(promise: nil)
        }
    }
}
