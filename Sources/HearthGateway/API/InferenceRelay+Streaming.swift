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
        _ first: Attempt, prefetched: StreamEvent?, context: AttemptContext, client: any Channel,
        to writer: inout any ResponseBodyWriter
    ) async throws {
        var attempt = first
        var prefetched = prefetched
        var progress = StreamRelayProgress(delivered: ReplayBuffer(limit: configuration.maximumReplayBytes))
        while true {
            // The gateway's own timing of this attempt: its profile is refitted from it, not from the node's claims.
            progress.observed = ObservedAnswer(firstByteAt: nil, contentEvents: nil)
            progress.heldEnd = nil
            let sink = StreamRelaySink(
                attempt: attempt, progress: progress, context: context, client: client,
                maximumEventBytes: configuration.maximumEventBytes,
                mayEndResponse: !context.ticket.holdsAnswerEnd && context.filter?.endsResponse != false,
                oversized: { [self, attempt] in oversizedEvent(attempt) })
            var outcome = await sink.run(prefetched: prefetched)
            progress = sink.progress
            if Task.isCancelled, case .completed(let end) = outcome { outcome = .clientGone(end) }
            prefetched = nil
            let observed = progress.observed
            let heldEnd = progress.heldEnd
            switch outcome {
            case .completed(let end):
                attempt.session.finish(attempt.stream)
                attempt.reservation.release(end: end, afterHandOff: true, observed: observed)
                context.completed(now: scheduler.now, budget: retryBudget)
                var usage = end?.usage
                if progress.splicer == nil, context.failedOver {
                    // Retried on another node before the first byte: nothing to splice, but it moved.
                    context.ticket.failedOver(
                        to: attempt.session.id, attempts: context.attempts, computedPromptTokens: usage?.promptTokens ?? 0,
                        computedCompletionTokens: usage?.completionTokens ?? 0)
                }
                var tail = heldEnd ?? ByteBuffer()
                if var spliced = progress.splicer {
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
                if !sink.endedResponse {
                    let tail = context.forClient(tail, status: attempt.head.status, ending: true)
                    if tail.readableBytes > 0 { try? await writer.write(tail) }
                    try? await writer.finish(nil)
                } else {
                    await sink.responseEndWritten()
                }
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
                if progress.splicer == nil {
                    // What the client has seen so far, read once now rather than on every event.
                    var replay = SSEStreamSplicer(
                        endpoint: context.endpoint, originalPromptTokens: context.promptTokens,
                        maximumReplayBytes: configuration.maximumReplayBytes)
                    _ = replay.ingest(progress.delivered.bytes)
                    if progress.delivered.overflowed { replay.loseReplay() }
                    progress.splicer = replay
                    progress.delivered = ReplayBuffer(limit: 0)
                }
                // The machine continues the answer on another node after what the client has (a replay too long to
                // have been kept cannot move), or ends the stream.
                let next = context.attemptFailed(
                    failure, delivered: progress.splicer!.delivered, replayKept: !progress.splicer!.replayLost, now: scheduler.now,
                    budget: retryBudget)
                do {
                    attempt = try await open(next, splicer: &progress.splicer, context: context)
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
                        tail.writeBytes(progress.splicer!.finish())
                        context.ticket.finish(outcome: .completed, status: attempt.head.status, usage: last.usage, answerEndsLater: true)
                        await context.ticket.settled()
                        try? await writer.write(context.forClient(tail, status: attempt.head.status, ending: true))
                    } else {
                        let failure = ByteBuffer(
                            bytes: Array("data: ".utf8) + Array(last.error.jsonBody) + Array("\n\ndata: [DONE]\n\n".utf8))
                        try? await writer.write(context.forClient(failure, status: attempt.head.status, ending: true))
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

    enum PumpOutcome: Sendable {
        case completed(StreamEnd?)
        case failed(AttemptFailure)
        case clientGone(StreamEnd?)
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

    /// A node streamed an event longer than the gateway holds: the stream fails (and moves), the node is told off.
    func oversizedEvent(_ attempt: Attempt) -> TunnelErrorMessage {
        registry.conduct?.lied(attempt.session.id, .oversizedEvent, detail: "over \(configuration.maximumEventBytes) bytes")
        return TunnelErrorMessage(
            code: .flowControl, message: "an event longer than \(configuration.maximumEventBytes) bytes without a boundary")
    }
}
