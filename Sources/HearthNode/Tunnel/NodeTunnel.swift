import HearthCore
import HearthProtocol
import HearthTunnel
import Logging
import NIOCore
import Synchronization

/// The node's end of one registered tunnel: runs each opened stream on the engine, honours the
/// gateway's flow-control window and cancellations, and sends heartbeats.
final class NodeTunnel: Sendable {
    private let channel: any Channel
    private let engine: any Engine
    private let configuration: NodeAgentConfiguration
    private let logger: Logger
    private let streams = Mutex<[UInt32: RunningStream]>([:])
    private let power: PowerController?
    private let link: LinkMonitor
    private let handBackRegistration = Mutex<Int?>(nil)
    /// Keep-alive connections to an HTTP engine, on the tunnel's event loop; made by the first request that needs one.
    private let enginePool: NIOLoopBoundBox<EngineConnectionPool?>

    /// A stream runs either as a relay on the tunnel's event loop (an HTTP engine) or as a task (any other engine).
    private enum RunningStream {
        case task(Task<Void, Never>, StreamCredit)
        case relay(NIOLoopBound<EngineHTTPRelay>)

        /// Stops the stream without an end frame. Safe from any thread.
        func stop(on eventLoop: any EventLoop) {
            switch self {
            case .task(let task, let credit):
                credit.cancel()
                task.cancel()
            case .relay(let relay):
                eventLoop.execute { relay.value.cancel() }
            }
        }
    }

    init(
        channel: any Channel, engine: any Engine, configuration: NodeAgentConfiguration, power: PowerController?, link: LinkMonitor,
        logger: Logger
    ) {
        self.link = link
        self.channel = channel
        self.engine = engine
        self.configuration = configuration
        self.logger = logger
        self.power = power
        enginePool = NIOLoopBoundBox.makeEmptyBox(valueType: EngineConnectionPool.self, eventLoop: channel.eventLoop)
        let registration = power?.gate.onHandBack { [weak self] in self?.handBackAll() }
        handBackRegistration.withLock { $0 = registration }
    }

    /// Ends every running stream with `handed_back` so the gateway resumes it on another node (draining).
    func handBackAll() {
        let running = streams.withLock { streams in
            defer { streams.removeAll() }
            return streams
        }
        guard !running.isEmpty else { return }
        logger.notice("handing running streams back to the gateway", metadata: ["streams": "\(running.count)"])
        for (id, stream) in running {
            stream.stop(on: channel.eventLoop)
            let end = StreamEnd(
                usage: nil, engineTimeToFirstTokenMilliseconds: nil,
                error: TunnelErrorMessage(code: .handedBack, message: "node \(configuration.nodeID) is draining for power"))
            channel.writeAndFlush(StreamMessageCodec.end(end, stream: id), promise: nil)
        }
    }

    func handle(_ frame: TunnelFrame) {
        switch frame.kind {
        case .open:
            open(frame)
        case .cancel:
            streams.withLock({ $0.removeValue(forKey: frame.stream) })?.stop(on: channel.eventLoop)
        case .heartbeatAck:
            guard let sequence = try? HeartbeatCodec.decodeAck(frame) else { return }
            link.echoed(sequence, at: .now)
        case .windowUpdate:
            guard let increment = try? frame.windowIncrement() else { return }
            switch streams.withLock({ $0[frame.stream] }) {
            case .task(_, let credit): credit.grant(increment)
            case .relay(let relay): onEventLoop { relay.value.grant(increment) }
            case nil: break
            }
        case .error:
            let message = (try? frame.decodeJSON(TunnelErrorMessage.self))?.message ?? "unreadable error"
            logger.warning("gateway reported an error", metadata: ["stream": "\(frame.stream)", "error": "\(message)"])
        default:
            logger.warning("ignoring unexpected frame from gateway", metadata: ["kind": "\(frame.kind)"])
        }
    }

    private func open(_ frame: TunnelFrame) {
        let id = frame.stream
        let powerRefuses = power.map { !$0.gate.isAdmitting } ?? false
        if powerRefuses || link.isDegraded {
            let why = powerRefuses ? "power" : "its link to the gateway is degraded"
            let refusal = TunnelErrorMessage(code: .notAdmitting, message: "node \(configuration.nodeID) is not admitting (\(why))")
            channel.writeAndFlush(
                StreamMessageCodec.end(StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: refusal), stream: id),
                promise: nil)
            return
        }
        let decoded: (header: StreamOpen, body: ByteBuffer)
        do {
            decoded = try StreamMessageCodec.decodeOpen(frame)
        } catch {
            let message = (error as? TunnelErrorMessage) ?? TunnelErrorMessage(code: .malformedFrame, message: "\(error)")
            channel.writeAndFlush(
                StreamMessageCodec.end(StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: message), stream: id),
                promise: nil)
            return
        }
        let request = EngineRequest(
            path: decoded.header.path,
            body: AnswerMeter.engineBody(for: decoded.body, header: decoded.header),
            stream: decoded.header.stream
        )
        if let target = engine.httpTarget(for: request) {
            onEventLoop { [self] in relay(stream: id, header: decoded.header, target: target) }
            return
        }
        let credit = StreamCredit(initial: TunnelProtocol.initialStreamWindow)
        // Registered before the task can end: a task that finished first would otherwise leave its entry behind for
        // ever, a stream the heartbeats count as running.
        streams.withLock { streams in
            let task = Task { [self] in
                await run(stream: id, header: decoded.header, request: request, credit: credit)
                _ = self.streams.withLock { $0.removeValue(forKey: id) }
            }
            streams[id] = .task(task, credit)
        }
    }

    /// Runs the stream on the tunnel's event loop: no task, no thread hand-off between the engine and the tunnel.
    private func relay(stream id: UInt32, header: StreamOpen, target: EngineHTTPTarget) {
        let pool: EngineConnectionPool
        if let existing = enginePool.value {
            pool = existing
        } else {
            pool = EngineConnectionPool(eventLoop: channel.eventLoop, maximumIdle: max(4, engine.slots * 2))
            enginePool.value = pool
        }
        let relay = EngineHTTPRelay(
            stream: id, header: header, target: target, tunnel: channel, pool: pool, chunkBytes: configuration.dataChunkBytes,
            logger: logger
        ) { [self] id in
            _ = streams.withLock { $0.removeValue(forKey: id) }
        }
        streams.withLock { $0[id] = .relay(NIOLoopBound(relay, eventLoop: channel.eventLoop)) }
        relay.start()
    }

    private func onEventLoop(_ work: @escaping @Sendable () -> Void) {
        if channel.eventLoop.inEventLoop { work() } else { channel.eventLoop.execute(work) }
    }

    private func run(stream id: UInt32, header: StreamOpen, request: EngineRequest, credit: StreamCredit) async {
        let started = ContinuousClock.now
        var meter = AnswerMeter(streaming: header.stream, forwardUsageChunk: header.clientWantsUsageChunk)
        var firstToken: Duration?
        let body = request.body
        var failure: TunnelErrorMessage?
        do {
            try await engine.run(request) { head in
                channel.writeAndFlush(StreamMessageCodec.head(head, stream: id), promise: nil)
            } onData: { chunk in
                if let forward = meter.take(chunk) {
                    if firstToken == nil, meter.sawFirstContent { firstToken = .now - started }
                    try await send(forward, stream: id, credit: credit)
                }
            }
            if let tail = meter.finish() { try await send(tail, stream: id, credit: credit) }
        } catch is CancellationError {
            return
        } catch {
            if Task.isCancelled { return }
            failure = TunnelErrorMessage(code: .engineFailed, message: "\(error)")
            logger.warning("engine request failed", metadata: ["request": "\(header.requestID)", "error": "\(error)"])
        }
        if Task.isCancelled { return }
        let usage =
            meter.usage
            ?? TokenUsage(promptTokens: max(1, body.readableBytes / 4), completionTokens: meter.contentChunks, reportedByEngine: false)
        let end = StreamEnd(
            usage: usage,
            engineTimeToFirstTokenMilliseconds: firstToken?.milliseconds,
            error: failure
        )
        channel.writeAndFlush(StreamMessageCodec.end(end, stream: id), promise: nil)
    }

    /// Sends bytes in data frames, waiting for window when the gateway has not consumed enough.
    private func send(_ bytes: ByteBuffer, stream id: UInt32, credit: StreamCredit) async throws {
        var bytes = bytes
        while bytes.readableBytes > 0 {
            let chunk = bytes.readSlice(length: min(bytes.readableBytes, configuration.dataChunkBytes))!
            try await credit.take(chunk.readableBytes)
            channel.writeAndFlush(TunnelFrame(kind: .data, stream: id, payload: chunk), promise: nil)
        }
    }

    /// Streams running on this tunnel now.
    var activeStreamCount: Int { streams.withLock { $0.count } }

    /// - Parameter streamsElsewhere: the streams the node runs for other gateways now (its other tunnels), reported on
    ///   every beat so that this gateway's scheduler sees the node's whole load.
    func sendHeartbeats(every interval: Duration, streamsElsewhere: @escaping @Sendable () -> Int = { 0 }) async {
        // The engine's health is checked beside the heartbeats, never in their way: a busy engine that answers its
        // health check slowly must not make the node look dead.
        let healthy = EngineHealthFlag()
        await withDiscardingTaskGroup { group in
            group.addTask { [engine] in
                var failedInARow = 0
                while !Task.isCancelled {
                    // One slow answer from an engine busy on two cores is not a dead engine; two in a row are.
                    failedInARow = await engine.isHealthy() ? 0 : failedInARow + 1
                    let answer = failedInARow < 2
                    healthy.value.withLock { $0 = answer }
                    do { try await Task.sleep(for: interval) } catch { return }
                }
            }
            // A beat every interval, and one at once whenever the power governor acts (a cap, a drain), so that the
            // gateway hears of it within a round trip rather than at the next beat.
            let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: interval) } catch { return }
                    wake.yield()
                }
            }
            if let power {
                let decisions = power.decisions()
                group.addTask { for await _ in decisions { wake.yield() } }
            }
            var sequence: UInt64 = 0
            var due: ContinuousClock.Instant?
            var pacer = LinkProbePacer()
            wake.yield()
            for await _ in wakeups {
                sequence += 1
                // A heartbeat later than its time measures the host's own stall (a starved CPU), not the link.
                let now = ContinuousClock.now
                if let due, now - due > .milliseconds(20) { link.hostStalled(seconds: (now - due).seconds, at: now) }
                due = now + interval
                let energy = power?.takeEnergy(newTunnel: sequence == 1)
                let active = streams.withLock { $0.count }
                let elsewhere = streamsElsewhere()
                let beat = NodeHeartbeat(
                    sequence: sequence,
                    activeStreams: active,
                    // A dead engine must not attract work: the gateway stops placing on a node that reports it.
                    engineHealthy: healthy.value.withLock { $0 },
                    power: power?.report(),
                    energy: energy?.isEmpty == false ? energy : nil,
                    link: link.report(),
                    // Absent when none: the gateway reads no field as none, and a node on one gateway sends no more.
                    otherGatewayStreams: elsewhere > 0 ? elsewhere : nil
                )
                let probe = pacer.nextIsProbe(busy: active > 0, linkInDoubt: link.isInDoubt)
                link.sent(sequence, probe: probe, at: .now, lossAfter: interval * 2)
                channel.writeAndFlush(HeartbeatCodec.heartbeat(beat, wantsEcho: probe), promise: nil)
            }
            wake.finish()
            group.cancelAll()
        }
    }

    /// The tunnel is gone: stop every stream (the gateway has already failed them).
    func closed() {
        if let registration = handBackRegistration.withLock({ $0 }) { power?.gate.removeHandBack(registration) }
        let running = streams.withLock { streams in
            defer { streams.removeAll() }
            return Array(streams.values)
        }
        for stream in running { stream.stop(on: channel.eventLoop) }
        let pool = enginePool
        channel.eventLoop.execute { pool.value?.close() }
    }
}

/// The engine's last health answer, shared by the checker and the heartbeats.
private final class EngineHealthFlag: Sendable {
    let value = Mutex(true)
}
