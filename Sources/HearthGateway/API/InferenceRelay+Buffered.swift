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
        let waiting = ContinuousClock.now
        defer { context.waitedOnNode(.now - waiting) }
        let collector = AnswerCollector(attempt: attempt, context: context, maximumAnswerBytes: configuration.maximumAnswerBytes)
        let answer: ByteBuffer
        let end: StreamEnd?
        do {
            (answer, end) = try await collector.run()
        } catch let error as TunnelErrorMessage where error.code == .flowControl {
            session.cancel(attempt.stream)
            attempt.reservation.release(end: nil)
            context.ticket.finish(outcome: .failed, status: 502)
            throw Self.mapNodeFailure(error, node: session.id)
        } catch {
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

/// A non-streamed answer, gathered on the tunnel's event loop as its frames arrive and handed to the request's task
/// once, at its end (one task switch per answer, not one per frame).
final class AnswerCollector: Sendable {
    private struct State {
        var answer = ByteBuffer()
        var end: StreamEnd?
        var waiter: CheckedContinuation<(ByteBuffer, StreamEnd?), any Error>?
        var done = false
    }

    private let state = Mutex(State())
    private let attempt: InferenceRelay.Attempt
    private let context: InferenceRelay.AttemptContext
    private let maximumAnswerBytes: Int

    init(attempt: InferenceRelay.Attempt, context: InferenceRelay.AttemptContext, maximumAnswerBytes: Int) {
        self.attempt = attempt
        self.context = context
        self.maximumAnswerBytes = maximumAnswerBytes
    }

    /// The whole answer and the node's end, or the stream's failure.
    func run() async throws -> (ByteBuffer, StreamEnd?) {
        defer { attempt.deadline.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { waiter in
                state.withLock { $0.waiter = waiter }
                // Weak, as in StreamRelaySink: the stream holds its consumer, and the collector holds the stream.
                attempt.stream.attach { [weak self] item in self?.consume(item) }
            }
        } onCancel: { [stream = attempt.stream] in
            stream.fail(CancellationError())
        }
    }

    private func consume(_ item: StreamItem) {
        switch item {
        case .event(.data(let bytes)):
            attempt.deadline.cancel()
            context.ticket.firstByte()
            let fits = state.withLock { state in
                guard !state.done else { return true }
                guard state.answer.readableBytes + bytes.readableBytes <= maximumAnswerBytes else { return false }
                var bytes = bytes
                state.answer.writeBuffer(&bytes)
                return true
            }
            guard fits else {
                return finish(
                    .failure(
                        TunnelErrorMessage(
                            code: .flowControl, message: "answer exceeds the \(maximumAnswerBytes)-byte limit for non-streamed requests")))
            }
            attempt.session.consumed(bytes.readableBytes, on: attempt.stream)
        case .event(.end(let last)):
            state.withLock { $0.end = last }
        case .finished:
            let whole = state.withLock { ($0.answer, $0.end) }
            finish(.success(whole))
        case .failed(let error):
            finish(.failure(error))
        }
    }

    private func finish(_ result: Result<(ByteBuffer, StreamEnd?), any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<(ByteBuffer, StreamEnd?), any Error>? in
            guard !state.done else { return nil }
            state.done = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }
}
