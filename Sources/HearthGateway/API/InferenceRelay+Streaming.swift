import Foundation
import HTTPTypes
import HearthCore
import HearthProtocol
import Hummingbird
import NIOCore
import Synchronization

/// Streamed answers: relayed event by event, continued on another node when one fails mid-answer.
extension InferenceRelay {
    /// Relays a streamed answer. While the first node runs, its events pass through untouched (only whole
    /// events: a partial one waits for its blank line, so a node that dies mid-event never tears the client's
    /// stream). When a node fails mid-answer, the request resumes on another node with the text delivered so
    /// far as the new prefix, and ``SSEStreamSplicer`` joins the attempts into one well-formed stream.
    /// `prefetched`: the first event, when a hedge race already read it.
    func relayStream(
        _ first: Attempt, prefetched: Result<StreamEvent?, any Error>?, context: AttemptContext, to writer: inout any ResponseBodyWriter
    ) async throws {
        var attempt = first
        var prefetched = prefetched
        var splicer: SSEStreamSplicer?
        var delivered = ReplayBuffer(limit: configuration.maximumReplayBytes)
        while true {
            // The gateway's own timing of this attempt: its profile is refitted from it, not from the node's claims.
            var observed = ObservedAnswer(firstByteAt: nil, contentEvents: nil)
            var heldEnd: ByteBuffer?
            let outcome = await pump(
                attempt, prefetched: prefetched, splicer: &splicer, delivered: &delivered, observed: &observed, heldEnd: &heldEnd,
                context: context, to: &writer)
            prefetched = nil
            switch outcome {
            case .completed(let end):
                attempt.session.finish(attempt.stream)
                attempt.reservation.release(end: end, afterHandOff: true, observed: observed)
                context.completed(now: scheduler.now, budget: retryBudget)
                var usage = end?.usage
                if splicer == nil, context.failedOver {
                    // Retried on another node before the first byte: nothing to splice, but it moved.
                    context.ticket.failedOver(
                        to: attempt.session.id, attempts: context.attempts, computedPromptTokens: usage?.promptTokens ?? 0,
                        computedCompletionTokens: usage?.completionTokens ?? 0)
                }
                var tail = heldEnd ?? ByteBuffer()
                if var spliced = splicer {
                    tail.writeBytes(spliced.finish())
                    let counts = spliced.usage
                    usage = TokenUsage(
                        promptTokens: counts.clientPromptTokens, completionTokens: counts.clientCompletionTokens, reportedByEngine: false)
                    context.ticket.failedOver(
                        to: attempt.session.id, attempts: context.attempts,
                        computedPromptTokens: counts.computedPromptTokens, computedCompletionTokens: counts.computedCompletionTokens)
                }
                context.ticket.finish(
                    outcome: attempt.head.status < 300 ? .completed : .failed, status: attempt.head.status, usage: usage,
                    answerEndsLater: true)
                // The answer ends once its bill is committed (replicas: see UsageLedger.commitsBeforeAnswersEnd).
                await context.ticket.settled()
                if tail.readableBytes > 0 { try? await writer.write(tail) }
                try? await writer.finish(nil)
                context.ticket.answerEnded()
                return
            case .clientGone(let end):
                attempt.session.cancel(attempt.stream)
                attempt.reservation.release(end: end, afterHandOff: true, observed: observed)
                context.ticket.finish(outcome: .cancelled, status: 499, usage: end?.usage)
                return
            case .failed(let failure):
                attempt.session.cancel(attempt.stream)
                attempt.reservation.release(end: nil, afterHandOff: true)
                if splicer == nil {
                    // What the client has seen so far, read once now rather than on every event.
                    var replay = SSEStreamSplicer(
                        endpoint: context.endpoint, originalPromptTokens: context.promptTokens,
                        maximumReplayBytes: configuration.maximumReplayBytes)
                    _ = replay.ingest(delivered.bytes)
                    splicer = replay
                    if delivered.overflowed { splicer!.loseReplay() }
                    delivered = ReplayBuffer(limit: 0)
                }
                // The machine continues the answer on another node after what the client has (a replay too long to
                // have been kept cannot move), or ends the stream.
                let next = context.attemptFailed(
                    failure, delivered: splicer!.delivered, replayKept: !splicer!.replayLost, now: scheduler.now, budget: retryBudget)
                do {
                    attempt = try await open(next, splicer: &splicer, context: context)
                    attempt.reservation.handOff()
                } catch let ended as RelayEnded {
                    guard case .endStream(let last, let complete, _) = ended.action else {
                        context.ticket.finish(outcome: .cancelled, status: 499, usage: failure.usage)
                        return
                    }
                    if complete {
                        // The answer was complete; only the end of the stream was lost. Its end goes once it is billed.
                        // A `[DONE]` held back for the bill is in the replay (so the splicer adds none): it goes now.
                        var tail = heldEnd ?? ByteBuffer()
                        tail.writeBytes(splicer!.finish())
                        context.ticket.finish(outcome: .completed, status: attempt.head.status, usage: last.usage, answerEndsLater: true)
                        await context.ticket.settled()
                        try? await writer.write(tail)
                    } else {
                        try? await writer.write(
                            ByteBuffer(bytes: Array("data: ".utf8) + Array(last.error.jsonBody) + Array("\n\ndata: [DONE]\n\n".utf8)))
                        context.ticket.finish(outcome: .failed, status: last.error.status.code, usage: last.usage)
                    }
                    try? await writer.finish(nil)
                    context.ticket.answerEnded()
                    return
                } catch {
                    // The client left while the request was being moved.
                    context.ticket.finish(outcome: .cancelled, status: 499, usage: failure.usage)
                    return
                }
            }
        }
    }

    enum PumpOutcome {
        case completed(StreamEnd?)
        case failed(AttemptFailure)
        case clientGone(StreamEnd?)
    }

    /// Forwards one attempt's events until it ends, fails or the client leaves.
    func pump(
        _ attempt: Attempt, prefetched: Result<StreamEvent?, any Error>?, splicer: inout SSEStreamSplicer?,
        delivered: inout ReplayBuffer, observed: inout ObservedAnswer, heldEnd: inout ByteBuffer?, context: AttemptContext,
        to writer: inout any ResponseBodyWriter
    ) async -> PumpOutcome {
        var pending = ByteBuffer()
        var scanner = SSEEventScanner(
            field: context.endpoint == .chatCompletions ? .content : .text, maximumEventBytes: configuration.maximumEventBytes)
        // What the client got from this attempt is the floor of what its tenant is billed, and times the node.
        defer {
            if splicer == nil {
                context.ticket.relayed(AnswerAudit.Relayed(contentEvents: scanner.contentEvents))
                observed.contentEvents = scanner.contentEvents
            }
        }
        var end: StreamEnd?
        // Re-armed after every event: a node that stops sending mid-answer (a hung engine, a link that holds bytes
        // without closing) is treated like a lost one once the class's gap is exceeded.
        let stream = attempt.stream
        let limit = context.interTokenStall
        let eventLoop = attempt.session.channel.eventLoop
        var stallTimer: Scheduled<Void>?
        defer { stallTimer?.cancel() }
        do {
            // The event a hedge race already read (nil: the stream ended there), then the rest of the stream.
            var prefetchedEvent: StreamEvent?
            var endedEarly = false
            if let prefetched {
                prefetchedEvent = try prefetched.get()
                endedEarly = prefetchedEvent == nil
            }
            var events = attempt.stream.body.makeAsyncIterator()
            while !endedEarly, let event = try await Self.next(&prefetchedEvent, from: &events) {
                attempt.deadline.cancel()
                stallTimer?.cancel()
                switch event {
                case .data(let bytes):
                    context.ticket.firstByte()
                    let count = bytes.readableBytes
                    var out: ByteBuffer
                    if splicer != nil {
                        out = ByteBuffer(bytes: splicer!.ingest(bytes.readableBytesView))
                        guard splicer!.pendingBytes <= configuration.maximumEventBytes else { throw oversizedEvent(attempt) }
                    } else {
                        var bytes = bytes
                        pending.writeBuffer(&bytes)
                        guard let whole = pending.withUnsafeReadableBytes({ scanner.wholeEvents(in: $0) }) else {
                            throw oversizedEvent(attempt)
                        }
                        out = pending.readSlice(length: whole) ?? ByteBuffer()
                        delivered.append(out)
                        pending.discardReadBytes()
                    }
                    // The first token, as the gateway sees it (not the node's first byte: a role chunk is no token).
                    if observed.firstByteAt == nil, splicer != nil || scanner.contentEvents > 0 { observed.firstByteAt = .now }
                    // The stream's last event waits for the usage row's commit (UsageTicket.holdsAnswerEnd): a client
                    // that has `[DONE]` has the whole answer, so the bill must be written first.
                    if context.ticket.holdsAnswerEnd, let done = Self.doneEventLength(at: out) {
                        heldEnd = out.getSlice(at: out.readerIndex + out.readableBytes - done, length: done)
                        out = out.getSlice(at: out.readerIndex, length: out.readableBytes - done) ?? ByteBuffer()
                    }
                    if out.readableBytes > 0 {
                        do { try await writer.write(out) } catch { return .clientGone(nil) }
                    }
                    attempt.session.consumed(count, on: attempt.stream)
                case .end(let last):
                    end = last
                }
                // Armed only while waiting on the node, not while a slow client drains what it sent.
                stallTimer = eventLoop.scheduleTask(in: .nanoseconds(limit.nanosecondsClamped)) {
                    stream.fail(StreamStalled(after: limit))
                }
            }
        } catch {
            attempt.deadline.cancel()
            if error is ClientGone || error is CancellationError || context.clientGone || Task.isCancelled { return .clientGone(end) }
            return .failed(
                AttemptFailure(cause: Self.cause(of: error), error: Self.mapNodeFailure(error, node: attempt.session.id), usage: nil))
        }
        attempt.deadline.cancel()
        if Task.isCancelled || context.clientGone { return .clientGone(end) }
        guard let end else {
            return .failed(
                AttemptFailure(cause: .tunnelClosed, error: .nodeFailed("Node \(attempt.session.id) ended the stream early."), usage: nil))
        }
        if let failure = end.error, attempt.head.status < 300 {
            return .failed(
                AttemptFailure(
                    cause: Self.cause(of: failure), error: .nodeFailed("Node \(attempt.session.id) failed mid-stream: \(failure.message)"),
                    usage: end.usage))
        }
        if pending.readableBytes > 0 {
            // A well-formed stream ends at an event boundary; pass on whatever the engine sent last.
            if splicer != nil {
                let out = splicer!.ingest(Array(pending.readableBytesView) + Array("\n\n".utf8))
                try? await writer.write(ByteBuffer(bytes: out))
            } else {
                try? await writer.write(pending)
            }
        }
        return .completed(end)
    }

    /// The length of the `data: [DONE]` event that ends `events`, if it does (LF or CRLF line ends).
    static func doneEventLength(at events: ByteBuffer) -> Int? {
        for done in [Self.doneLF, Self.doneCRLF] where events.readableBytes >= done.count {
            let tail = events.readableBytesView.suffix(done.count)
            if tail.elementsEqual(done) { return done.count }
        }
        return nil
    }

    private static let doneLF = Array("data: [DONE]\n\n".utf8)
    private static let doneCRLF = Array("data: [DONE]\r\n\r\n".utf8)

    /// `prefetched` once, then the stream's own events.
    static func next(
        _ prefetched: inout StreamEvent?, from events: inout AsyncThrowingStream<StreamEvent, any Error>.Iterator
    ) async throws -> StreamEvent? {
        if let event = prefetched {
            prefetched = nil
            return event
        }
        return try await events.next()
    }

    /// A node streamed an event longer than the gateway holds: the stream fails (and moves), the node is told off.
    func oversizedEvent(_ attempt: Attempt) -> TunnelErrorMessage {
        registry.conduct?.lied(attempt.session.id, .oversizedEvent, detail: "over \(configuration.maximumEventBytes) bytes")
        return TunnelErrorMessage(
            code: .flowControl, message: "an event longer than \(configuration.maximumEventBytes) bytes without a boundary")
    }
}
