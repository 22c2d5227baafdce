import Foundation
import HTTPTypes
import HearthCore
import HearthProtocol
import Hummingbird
import NIOCore
import Synchronization

/// Non-streamed answers: collected whole, retried whole while nothing reached the client.
extension InferenceRelay {
    /// Buffers a non-streamed answer; a node that fails before its end is replaced (nothing reached the client yet).
    func relayAnswer(_ first: Attempt, context: AttemptContext) async throws -> (ByteBuffer, Int, NodeID) {
        var attempt = first
        while true {
            do {
                let (answer, end) = try await collect(attempt, context: context)
                if attempt.head.status < 300, let failure = end?.error {
                    throw AttemptFailure(
                        cause: Self.cause(of: failure), error: .nodeFailed("Node \(attempt.session.id) failed: \(failure.message)"),
                        usage: end?.usage)
                }
                if context.failedOver {
                    context.ticket.failedOver(
                        to: attempt.session.id, attempts: context.attempts, computedPromptTokens: end?.usage?.promptTokens ?? 0,
                        computedCompletionTokens: end?.usage?.completionTokens ?? 0)
                }
                context.ticket.finish(
                    outcome: attempt.head.status < 300 ? .completed : .failed, status: attempt.head.status, usage: end?.usage)
                context.completed(now: scheduler.now, budget: retryBudget)
                // The answer goes out once its bill is committed (replicas: see UsageLedger.commitsBeforeAnswersEnd).
                await context.ticket.settled()
                return (answer, attempt.head.status, attempt.session.id)
            } catch let failure as AttemptFailure {
                // Nothing reached the client: the machine retries the whole request elsewhere or answers the failure.
                attempt = try await open(context.attemptFailed(failure, now: scheduler.now, budget: retryBudget), context: context)
            }
        }
    }

    func collect(_ attempt: Attempt, context: AttemptContext) async throws -> (ByteBuffer, StreamEnd?) {
        let session = attempt.session
        var answer = ByteBuffer()
        var end: StreamEnd?
        let waiting = ContinuousClock.now
        defer { context.waitedOnNode(.now - waiting) }
        do {
            for try await event in attempt.stream.body {
                attempt.deadline.cancel()
                switch event {
                case .data(let bytes):
                    context.ticket.firstByte()
                    guard answer.readableBytes + bytes.readableBytes <= configuration.maximumAnswerBytes else {
                        throw TunnelErrorMessage(
                            code: .flowControl,
                            message: "answer exceeds the \(configuration.maximumAnswerBytes)-byte limit for non-streamed requests"
                        )
                    }
                    session.consumed(bytes.readableBytes, on: attempt.stream)
                    var bytes = bytes
                    answer.writeBuffer(&bytes)
                case .end(let last):
                    end = last
                }
            }
        } catch let error as TunnelErrorMessage where error.code == .flowControl {
            attempt.deadline.cancel()
            session.cancel(attempt.stream)
            attempt.reservation.release(end: nil)
            context.ticket.finish(outcome: .failed, status: 502)
            throw Self.mapNodeFailure(error, node: session.id)
        } catch {
            attempt.deadline.cancel()
            session.cancel(attempt.stream)
            attempt.reservation.release(end: nil)
            if error is ClientGone || error is CancellationError || context.clientGone {
                context.ticket.finish(outcome: .cancelled, status: 499)
                throw Self.clientClosed
            }
            throw AttemptFailure(cause: Self.cause(of: error), error: Self.mapNodeFailure(error, node: session.id), usage: nil)
        }
        session.finish(attempt.stream)
        attempt.reservation.release(end: end)
        // An answer with text holds at least one token: the floor of its bill.
        let hasText = answer.withUnsafeReadableBytes {
            SSEEventScanner.hasText($0, field: context.endpoint == .chatCompletions ? .content : .text)
        }
        context.ticket.relayed(AnswerAudit.Relayed(contentEvents: hasText ? 1 : 0))
        return (answer, end)
    }
}
