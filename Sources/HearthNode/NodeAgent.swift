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

/// A node agent: dials out to its gateway (homes are behind NAT), registers, sends heartbeats and
/// runs the gateway's requests on its engine, many at once over the one tunnel. Reconnects with
/// jittered exponential backoff whenever the tunnel drops.
public final class NodeAgent: Service {
    public let configuration: NodeAgentConfiguration
    private let engine: any Engine
    private let logger: Logger
    private let connections = Mutex(0)
    private let profiles = Mutex<[NodeProfile]?>(nil)
    private let locateGateway: @Sendable () async -> (host: String, port: Int)
    /// The node's power loop, when it has a home panel to read.
    public let power: PowerController?
    /// Set when tamper quarantined the node: it stops serving and never reconnects with this identity.
    private let quarantined = Mutex(false)
    private let currentChannel = Mutex<(any Channel)?>(nil)
    private let measurer = SoftwareMeasurer()
    private let link: LinkMonitor

    /// - Parameter locateGateway: where to dial, asked before each connection attempt; defaults to
    ///   the configured address. `hearth up` uses it to wait for the gateway's ephemeral tunnel port.
    public init(
        configuration: NodeAgentConfiguration,
        engine: any Engine,
        logger: Logger,
        power: PowerController? = nil,
        locateGateway: (@Sendable () async -> (host: String, port: Int))? = nil
    ) {
        self.configuration = configuration
        self.engine = engine
        self.power = power
        var linkQuality = configuration.linkQuality
        // A gateway on this machine: the link cannot be the bottleneck, only a busy host can look like one.
        if LinkMonitor.isLoopback(configuration.gatewayHost) && !configuration.judgesLoopbackLink { linkQuality.judgesLink = false }
        link = LinkMonitor(configuration: linkQuality)
        let fixed = (configuration.gatewayHost, configuration.gatewayPort)
        self.locateGateway = locateGateway ?? { fixed }
        var logger = logger
        logger[metadataKey: "node"] = "\(configuration.nodeID)"
        self.logger = logger
    }

    /// Whether tamper took the node out of service.
    public var isQuarantined: Bool { quarantined.withLock { $0 } }

    /// The node's current measurement of its link to the gateway (what its heartbeats report).
    public var linkReport: LinkReport { link.report() }

    /// Tunnels opened so far (a reconnect adds one).
    public var connectionCount: Int { connections.withLock { $0 } }

    public func run() async throws {
        let powerLoop = power.map { power in Task { await power.run() } }
        defer { powerLoop?.cancel() }
        let tamperLoop = configuration.tamperSensor.map { sensor in Task { await watchTamper(sensor) } }
        defer { tamperLoop?.cancel() }
        await withGracefulShutdownHandler {
            var failures = 0
            var generator = SystemRandomNumberGenerator()
            while !Task.isCancelled && !Task.isShuttingDownGracefully && !isQuarantined {
                do {
                    let registered = try await runConnection()
                    if registered { failures = 0 }
                } catch {
                    logger.warning("tunnel to gateway failed", metadata: ["error": "\(error)"])
                }
                if Task.isCancelled || Task.isShuttingDownGracefully || isQuarantined { break }
                failures += 1
                let delay = Self.backoff(failures: failures, configuration: configuration, using: &generator)
                try? await Task.sleep(for: delay)
            }
        } onGracefulShutdown: {
            // runConnection watches for shutdown itself and closes the tunnel.
        }
        if isQuarantined {
            // Out of service until an operator re-enrolls the node; stay up (quietly) so that a process running
            // other services, such as `hearth up`, does not stop with it.
            logger.critical("node quarantined after tamper: not serving; re-enrollment needs an operator")
            try? await gracefulShutdown()
        }
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
                    if let channel = currentChannel.withLock({ $0 }) {
                        try? await channel.writeAndFlush(TunnelFrame.json(.tamperReport, report))
                    }
                case .zeroizeSecrets:
                    configuration.identity?.credentials.zeroize()
                    try? await currentChannel.withLock({ $0 })?.close()
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
    private func runConnection() async throws -> Bool {
        let inbox = FrameInbox()
        let maximumFrameBytes = configuration.maximumFrameBytes
        let gateway = await locateGateway()
        // With an identity the tunnel is mutual TLS: read the credentials afresh, a renewal may have replaced them.
        let tls = try configuration.identity.map { try NodeEnrollment.tlsContext($0.credentials) }
        let serverName = IPAddressBytes.isIP(gateway.host) ? nil : gateway.host
        let link = self.link
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
        currentChannel.withLock { $0 = channel }
        defer { currentChannel.withLock { $0 = nil } }
        let tunnel = NodeTunnel(channel: channel, engine: engine, configuration: configuration, power: power, link: link, logger: logger)
        defer { tunnel.closed() }
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
                            await tunnel.sendHeartbeats(every: .milliseconds(welcome.heartbeatIntervalMilliseconds))
                        }
                        if let identity = configuration.identity {
                            group.addTask { await self.keepCertificateFresh(identity, channel: channel) }
                        }
                        continue
                    }
                    if frame.kind == .goingAway {
                        // The gateway drains: its streams here finish, then it closes the tunnel and the agent redials
                        // (another replica, or this one restarted).
                        logger.notice("gateway is shutting down; running streams finish, then the agent redials")
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
