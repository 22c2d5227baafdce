import Foundation
import HearthCore
import HearthIdentity
import HearthProtocol
import HearthTunnel
import Logging
import NIOCore
import NIOSSL

/// The gateway's handler for one node connection: handshake, then frames to the node's session.
///
/// Everything a node sends is untrusted: malformed frames and protocol violations get an error
/// frame and, when they concern the whole connection, a close. Nothing a node sends can crash the
/// gateway or stall other nodes.
final class GatewayTunnelHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: all mutable state is touched only on the channel's event loop.
    typealias InboundIn = TunnelFrame
    typealias OutboundOut = TunnelFrame

    private let registry: NodeRegistry
    private let identity: GatewayIdentity?
    private let store: any FleetStore
    private let configuration: TunnelServerConfiguration
    private let logger: Logger
    private var session: NodeSession?
    private var helloDeadline: Scheduled<Void>?

    init(
        registry: NodeRegistry, identity: GatewayIdentity?, store: any FleetStore, configuration: TunnelServerConfiguration, logger: Logger
    ) {
        self.registry = registry
        self.identity = identity
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        let timeout = configuration.helloTimeout
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        helloDeadline = context.eventLoop.scheduleTask(in: timeout) { [self] in
            guard session == nil, bound.value.channel.isActive else { return }
            let message = TunnelErrorMessage(code: .notRegistered, message: "no hello within \(timeout.nanoseconds / 1_000_000) ms")
            refuse(message, context: bound.value)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        do {
            if let session {
                try session.handle(frame, now: .now())
            } else {
                try register(frame, context: context)
            }
        } catch {
            refuse(error, context: context)
        }
    }

    private func register(_ frame: TunnelFrame, context: ChannelHandlerContext) throws {
        guard frame.kind == .hello else {
            throw TunnelErrorMessage(code: .notRegistered, message: "the first frame must be hello, got \(frame.kind)")
        }
        let claimed = try frame.decodeJSON(NodeHello.self)
        try NodeHelloValidator.validate(claimed)
        let hello = NodeHelloValidator.plausible(claimed)
        if let identity {
            // mTLS already proved the certificate chains to the fleet CA; now it must name this node, unrevoked.
            let peer = try context.pipeline.syncOperations.nioSSL_peerCertificate().map(TunnelTLS.certificate)
            try identity.admit(peer: peer, claimed: hello.nodeID)
        }
        let registry = self.registry
        let identity = self.identity
        let logger = self.logger
        let session = NodeSession(
            hello: hello, channel: context.channel, now: .now(), heartbeatInterval: configuration.heartbeatInterval,
            onLie: { session, lie, detail in registry.conduct?.lied(session.id, lie, detail: detail) }
        ) { session, beat in
            registry.heartbeat(beat, from: session)
            identity?.heartbeat(from: session.id)
        } onIdentity: { session, frame in
            Self.handleIdentity(frame, from: session, identity: identity, logger: logger)
        }
        self.session = session
        helloDeadline?.cancel()
        helloDeadline = nil
        if let replaced = registry.register(session) {
            replaced.channel.close(promise: nil)
        }
        if let identity { identity.applyLabels(identity.labels(for: hello.nodeID), to: hello.nodeID) }
        let welcome = GatewayWelcome(
            heartbeatIntervalMilliseconds: Int(configuration.heartbeatInterval.nanoseconds / 1_000_000),
            missedHeartbeatsBeforeDead: configuration.missedHeartbeatsBeforeDead
        )
        context.writeAndFlush(wrapOutboundOut(.json(.welcome, welcome)), promise: nil)
        logger.info("node registered", metadata: ["node": "\(hello.nodeID)", "models": "\(hello.models.map(\.id))"])

        let hardware = String(decoding: (try? JSONEncoder().encode(hello.hardware)) ?? Data(), as: UTF8.self)
        let record = NodeRecord(
            id: hello.nodeID,
            engineKind: hello.engineKind,
            models: hello.models,
            hardwareJSON: hardware,
            slots: hello.slots,
            connectedAt: Date()
        )
        let store = self.store
        Task {
            do { try await store.upsertNode(record) } catch { logger.error("could not record node: \(error)") }
        }
    }

    private static func handleIdentity(_ frame: TunnelFrame, from session: NodeSession, identity: GatewayIdentity?, logger: Logger) {
        guard let identity else {
            logger.warning("identity frame on a tunnel without identities", metadata: ["node": "\(session.id)", "kind": "\(frame.kind)"])
            return
        }
        switch frame.kind {
        case .renewRequest:
            guard let request = try? frame.decodeJSON(RenewalRequest.self) else { return }
            Task {
                let response = await identity.renew(request, from: session.id)
                try? await session.channel.writeAndFlush(TunnelFrame.json(.renewed, response))
            }
        case .tamperReport:
            guard let report = try? frame.decodeJSON(TamperReport.self) else { return }
            Task { await identity.tamperReport(report, from: session.id) }
        default:
            break
        }
    }

    private func refuse(_ error: any Error, context: ChannelHandlerContext) {
        let message =
            (error as? TunnelErrorMessage)
            ?? TunnelErrorMessage(code: .malformedFrame, message: "\(error)")
        logger.warning(
            "closing node tunnel after protocol error",
            metadata: ["node": "\(session?.id.rawValue ?? "unregistered")", "error": "\(message.message)"]
        )
        context.writeAndFlush(wrapOutboundOut(.json(.error, message)), promise: nil)
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Decoder errors (oversized or unknown frames) land here.
        if context.channel.isActive { refuse(error, context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        helloDeadline?.cancel()
        helloDeadline = nil
        guard let session else { return }
        self.session = nil
        session.closed(reason: "tunnel closed")
        registry.remove(session, reason: "tunnel closed")
        logger.info("node disconnected", metadata: ["node": "\(session.id)"])
        let store = self.store
        Task { try? await store.markNodeDisconnected(session.id, at: Date()) }
        context.fireChannelInactive()
    }
}
