import HearthCore
import HearthProtocol
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What a streamed answer's relay carries from one attempt to the next.
struct StreamRelayProgress: Sendable {
    /// Joins the attempts once the answer has moved to another node (nil while its first node serves).
    var splicer: SSEStreamSplicer?
    /// What the client got from the first node, kept so that the answer can move.
    var delivered: ReplayBuffer
    /// The gateway's own timing of the current attempt: its node's profile is refitted from it.
    var observed = ObservedAnswer(firstByteAt: nil, contentEvents: nil)
    /// The stream's `[DONE]`, held back until the answer's bill is committed.
    var heldEnd: ByteBuffer?
}

/// One attempt's streamed answer, relayed on the tunnel's event loop: each event the node sends is cut into whole
/// events and written to the client's channel as it arrives, with no task switch per event (issue 13). The request's
/// task waits only for the attempt's outcome (``InferenceRelay/PumpOutcome``), and handles failover from there.
///
/// Flow control: the node's window is given back only once the client's connection has taken the bytes, so a slow
/// client holds at most one window per stream. The stall timer runs only while nothing waits for the client.
final class StreamRelaySink: Sendable {
    private struct State {
        var progress: StreamRelayProgress
        var pending = ByteBuffer()
        var scanner: SSEEventScanner
        var end: StreamEnd?
        /// Client writes not yet done.
        var unwritten = 0
        var stallTimer: Scheduled<Void>?
        var waiter: CheckedContinuation<InferenceRelay.PumpOutcome, Never>?
        var outcome: InferenceRelay.PumpOutcome?
        var endedResponse = false
        /// The write that ends the response, once the sink has queued it.
        var endWrite: EventLoopFuture<Void>?
    }

    private let state: Mutex<State>
    private let attempt: InferenceRelay.Attempt
    private let context: InferenceRelay.AttemptContext
    private let client: any Channel
    private let maximumEventBytes: Int
    /// The sink may end the HTTP response itself when the answer completes (not when the bill must be committed first).
    private let mayEndResponse: Bool
    /// A node streamed an event longer than the gateway holds: the error that fails its stream (and its conduct mark).
    private let oversized: @Sendable () -> TunnelErrorMessage

    init(
        attempt: InferenceRelay.Attempt, progress: StreamRelayProgress, context: InferenceRelay.AttemptContext, client: any Channel,
        maximumEventBytes: Int, mayEndResponse: Bool, oversized: @escaping @Sendable () -> TunnelErrorMessage
    ) {
        self.mayEndResponse = mayEndResponse
        self.attempt = attempt
        self.context = context
        self.client = client
        self.maximumEventBytes = maximumEventBytes
        self.oversized = oversized
        let scanner = SSEEventScanner(field: context.endpoint == .chatCompletions ? .content : .text, maximumEventBytes: maximumEventBytes)
        state = Mutex(State(progress: progress, scanner: scanner))
    }

    /// Relays the stream until it ends, fails or the client leaves. `prefetched`: the first event, when a hedge race
    /// already read it (a race that read the stream's end or failure left it for the sink to read again).
    func run(prefetched: StreamEvent?) async -> InferenceRelay.PumpOutcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { waiter in
                state.withLock { $0.waiter = waiter }
                if let prefetched { consume(.event(prefetched)) }
                // Weak: the stream holds its consumer, and the sink holds the stream (a strong capture would keep both,
                // and the answer's buffers, for ever). The request's task holds the sink while it waits.
                attempt.stream.attach { [weak self] item in self?.consume(item) }
            }
        } onCancel: { [stream = attempt.stream] in
            stream.fail(CancellationError())
        }
    }

    /// What the relay carries on to the next attempt; read once ``run(prefetched:)`` returned.
    var progress: StreamRelayProgress { state.withLock { $0.progress } }

    /// The sink wrote the response's end with the answer's last bytes: the request's task writes nothing more.
    var endedResponse: Bool { state.withLock { $0.endedResponse } }

    /// Returns once the response's end, which the sink queued on the client's loop, has been written (or failed): the
    /// answer has ended on the wire only then. A drain that counted it ended earlier could close the connection with
    /// the end still queued, and cut a complete answer.
    func responseEndWritten() async {
        let write = state.withLock { $0.endWrite }
        _ = try? await write?.get()
    }

    private func consume(_ item: StreamItem) {
        switch item {
        case .event(.data(let bytes)):
            attempt.deadline.cancel()
            context.ticket.firstByte()
            relay(bytes)
        case .event(.end(let last)):
            state.withLock { state in
                state.end = last
                state.stallTimer?.cancel()
                state.stallTimer = nil
            }
        case .finished:
            finished()
        case .failed(let error):
            attempt.deadline.cancel()
            let end = state.withLock { $0.end }
            if error is ClientGone || error is CancellationError || context.clientGone {
                finish(.clientGone(end))
            } else {
                finish(.failed(failure(error)))
            }
        }
    }

    private func relay(_ bytes: ByteBuffer) {
        let count = bytes.readableBytes
        enum Step {
            case ignore
            case write(ByteBuffer)
            case consumed(armStall: Bool)
            case oversized
        }
        let step = state.withLock { state -> Step in
            guard state.outcome == nil else { return .ignore }
            state.stallTimer?.cancel()
            state.stallTimer = nil
            var out: ByteBuffer
            if state.progress.splicer != nil {
                out = ByteBuffer(bytes: state.progress.splicer!.ingest(bytes.readableBytesView))
                guard state.progress.splicer!.pendingBytes <= maximumEventBytes else { return .oversized }
            } else {
                var bytes = bytes
                state.pending.writeBuffer(&bytes)
                var scanner = state.scanner
                guard let whole = state.pending.withUnsafeReadableBytes({ scanner.wholeEvents(in: $0) }) else { return .oversized }
                state.scanner = scanner
                out = state.pending.readSlice(length: whole) ?? ByteBuffer()
                state.progress.delivered.append(out)
                if scanner.releasedUnfinishedToolCall { state.progress.delivered.forfeit() }
                state.pending.discardReadBytes()
            }
            // The first token, as the gateway sees it (not the node's first byte: a role chunk is no token).
            if state.progress.observed.firstByteAt == nil, state.progress.splicer != nil || state.scanner.contentEvents > 0 {
                state.progress.observed.firstByteAt = .now
            }
            // The stream's last event waits for the usage row's commit (UsageTicket.holdsAnswerEnd): a client that has
            // `[DONE]` has the whole answer, so the bill must be written first.
            if context.ticket.holdsAnswerEnd, let done = InferenceRelay.doneEventLength(at: out) {
                state.progress.heldEnd = out.getSlice(at: out.readerIndex + out.readableBytes - done, length: done)
                out = out.getSlice(at: out.readerIndex, length: out.readableBytes - done) ?? ByteBuffer()
            }
            guard out.readableBytes > 0 else { return .consumed(armStall: state.unwritten == 0) }
            state.unwritten += 1
            return .write(out)
        }
        switch step {
        case .ignore:
            break
        case .write(let out):
            write(out, consumed: count)
        case .consumed(let armStall):
            attempt.session.consumed(count, on: attempt.stream)
            if armStall { armStallTimer() }
        case .oversized:
            attempt.deadline.cancel()
            finish(.failed(failure(oversized())))
        }
    }

    private func finished() {
        attempt.deadline.cancel()
        let end = state.withLock { $0.end }
        if context.clientGone { return finish(.clientGone(end)) }
        guard let end else {
            return finish(
                .failed(
                    InferenceRelay.AttemptFailure(
                        cause: .tunnelClosed, error: .nodeFailed("Node \(attempt.session.id) ended the stream early."), usage: nil)))
        }
        if let failure = end.error, attempt.head.status < 300 {
            return finish(
                .failed(
                    InferenceRelay.AttemptFailure(
                        cause: InferenceRelay.cause(of: failure),
                        error: .nodeFailed("Node \(attempt.session.id) failed mid-stream: \(failure.message)"), usage: end.usage)))
        }
        // A well-formed stream ends at an event boundary; pass on whatever the engine sent last.
        let (rest, endsResponse) = state.withLock { state -> (ByteBuffer?, Bool) in
            // With nothing left for the request's task to add (no splice to close, no `[DONE]` held for the bill), the
            // response ends here, with its last bytes: one task switch less per answer.
            let endsResponse = mayEndResponse && state.progress.splicer == nil && state.progress.heldEnd == nil
            state.endedResponse = endsResponse
            guard state.pending.readableBytes > 0 else { return (nil, endsResponse) }
            if state.progress.splicer != nil {
                let bytes = state.progress.splicer!.ingest(Array(state.pending.readableBytesView) + Array("\n\n".utf8))
                return (ByteBuffer(bytes: bytes), endsResponse)
            }
            return (state.pending, endsResponse)
        }
        if rest != nil || endsResponse { write(rest ?? ByteBuffer(), consumed: nil, endingResponse: endsResponse) }
        finish(.completed(end))
    }

    /// Writes to the client. Always queued on the client's loop, never written inline: the response head went out
    /// through Hummingbird's writer as a task on that loop, and must precede every body byte.
    private func write(_ bytes: ByteBuffer, consumed count: Int?, endingResponse: Bool = false) {
        // Called in the stream's order (on its event loop): a Responses API translation sees the events in order.
        let bytes = context.forClient(bytes, status: attempt.head.status, ending: endingResponse)
        let client = client
        let promise = client.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { [self] result in written(count, result) }
        if endingResponse { state.withLock { $0.endWrite = promise.futureResult } }
        client.eventLoop.execute {
            guard endingResponse else { return client.writeAndFlush(HTTPResponsePart.body(bytes), promise: promise) }
            if bytes.readableBytes > 0 { client.write(HTTPResponsePart.body(bytes), promise: nil) }
            client.writeAndFlush(HTTPResponsePart.end(nil), promise: promise)
        }
    }

    private func written(_ count: Int?, _ result: Result<Void, any Error>) {
        guard let count else { return }
        guard case .success = result else {
            let end = state.withLock { $0.end }
            return finish(.clientGone(end))
        }
        attempt.session.consumed(count, on: attempt.stream)
        let arm = state.withLock { state in
            state.unwritten -= 1
            return state.unwritten == 0 && state.outcome == nil && state.end == nil
        }
        if arm { armStallTimer() }
    }

    /// A node that stops sending mid-answer (a hung engine, a link that holds bytes without closing) is treated like a
    /// lost one once the class's gap is exceeded. Armed only while waiting on the node, not on a slow client.
    private func armStallTimer() {
        let limit = context.interTokenStall
        let stream = attempt.stream
        let timer = stream.eventLoop.scheduleTask(in: .nanoseconds(limit.nanosecondsClamped)) {
            stream.fail(StreamStalled(after: limit))
        }
        let stale = state.withLock { state -> Scheduled<Void>? in
            guard state.outcome == nil else { return timer }
            defer { state.stallTimer = timer }
            return state.stallTimer
        }
        stale?.cancel()
    }

    private func failure(_ error: any Error) -> InferenceRelay.AttemptFailure {
        InferenceRelay.AttemptFailure(
            cause: InferenceRelay.cause(of: error), error: InferenceRelay.mapNodeFailure(error, node: attempt.session.id), usage: nil)
    }

    private func finish(_ outcome: InferenceRelay.PumpOutcome) {
        let (waiter, contentEvents) = state.withLock { state -> (CheckedContinuation<InferenceRelay.PumpOutcome, Never>?, Int?) in
            guard state.outcome == nil else { return (nil, nil) }
            state.outcome = outcome
            state.stallTimer?.cancel()
            state.stallTimer = nil
            defer { state.waiter = nil }
            // What the client got from this attempt is the floor of what its tenant is billed, and times the node.
            guard state.progress.splicer == nil else { return (state.waiter, nil) }
            state.progress.observed.contentEvents = state.scanner.contentEvents
            return (state.waiter, state.scanner.contentEvents)
        }
        if let contentEvents { context.ticket.relayed(AnswerAudit.Relayed(contentEvents: contentEvents)) }
        waiter?.resume(returning: outcome)
    }
}
