package import HearthProtocol
package import NIOCore
import Synchronization

/// What a node sends on one request stream after its head.
package enum StreamEvent: Sendable {
    case data(ByteBuffer)
    case end(StreamEnd)
}

/// The gateway's end of one request stream on a node tunnel.
///
/// Frames arrive on the tunnel's event loop. The HTTP handler awaits the head with ``head()`` and
/// then reads ``body``. The node may not send more data than the window the gateway granted: that
/// bounds what a slow client or a hostile node can make the gateway buffer.
package final class GatewayStream: Sendable {
    package let id: UInt32
    /// Data and the final end event, after the head.
    package let body: AsyncThrowingStream<StreamEvent, any Error>
    private let continuation: AsyncThrowingStream<StreamEvent, any Error>.Continuation
    private let state: Mutex<State>

    private enum HeadState {
        case waiting(CheckedContinuation<StreamHead, any Error>?)
        case arrived(StreamHead)
        case failed(any Error)
        case taken
    }

    private struct State {
        var head: HeadState = .waiting(nil)
        var window: Int
        var consumedSinceUpdate = 0
        var finished = false
    }

    init(id: UInt32, window: Int) {
        self.id = id
        (body, continuation) = AsyncThrowingStream.makeStream()
        state = Mutex(State(window: window))
    }

    /// Waits for the node's head frame. Call once.
    package func head() async throws -> StreamHead {
        try await withCheckedThrowingContinuation { waiter in
            let ready: Result<StreamHead, any Error>? = state.withLock { state in
                switch state.head {
                case .arrived(let head):
                    state.head = .taken
                    return .success(head)
                case .failed(let error):
                    state.head = .taken
                    return .failure(error)
                case .waiting:
                    state.head = .waiting(waiter)
                    return nil
                case .taken:
                    return .failure(TunnelErrorMessage(code: .other, message: "head awaited twice"))
                }
            }
            if let ready { waiter.resume(with: ready) }
        }
    }

    func receiveHead(_ head: StreamHead) throws {
        let waiter = try state.withLock { state -> CheckedContinuation<StreamHead, any Error>? in
            guard !state.finished else { return nil }
            guard case .waiting(let waiter) = state.head else {
                throw TunnelErrorMessage(code: .unexpectedFrame, message: "second head on stream \(id)")
            }
            if waiter != nil { state.head = .taken } else { state.head = .arrived(head) }
            return waiter
        }
        waiter?.resume(returning: head)
    }

    /// Delivers data or the end. Throws a ``TunnelErrorMessage`` when the node breaks the protocol.
    func receive(_ event: StreamEvent) throws {
        var headWaiter: CheckedContinuation<StreamHead, any Error>?
        let deliver = try state.withLock { state -> Bool in
            guard !state.finished else { return false }
            if case .waiting(let waiter) = state.head {
                if case .end(let end) = event, let error = end.error {
                    // An end without a head is how a node reports a request it could not start.
                    headWaiter = waiter
                    state.head = waiter == nil ? .failed(error) : .taken
                    state.finished = true
                    return false
                }
                throw TunnelErrorMessage(code: .unexpectedFrame, message: "\(event) before head on stream \(id)")
            }
            switch event {
            case .data(let bytes):
                state.window -= bytes.readableBytes
                guard state.window >= 0 else {
                    throw TunnelErrorMessage(code: .flowControl, message: "stream \(id) exceeded its flow-control window")
                }
            case .end:
                state.finished = true
            }
            return true
        }
        if case .end(let end) = event, !deliver, let error = end.error {
            headWaiter?.resume(throwing: error)
            continuation.finish(throwing: error)
            return
        }
        guard deliver else { return }
        continuation.yield(event)
        if case .end = event { continuation.finish() }
    }

    /// Ends the stream with an error (node lost, protocol violation, timeout). Later frames are ignored.
    package func fail(_ error: any Error) {
        let first = state.withLock { state in
            defer { state.finished = true }
            return !state.finished
        }
        guard first else { return }
        resumeHeadWaiter(throwing: error)
        continuation.finish(throwing: error)
    }

    private func resumeHeadWaiter(throwing error: any Error) {
        let waiter = state.withLock { state -> CheckedContinuation<StreamHead, any Error>? in
            switch state.head {
            case .waiting(let waiter):
                state.head = waiter == nil ? .failed(error) : .taken
                return waiter
            default:
                return nil
            }
        }
        waiter?.resume(throwing: error)
    }

    /// Records that `bytes` were written to the client; returns the window increment to send, if it is time.
    func consumed(_ bytes: Int) -> Int? {
        state.withLock { state in
            state.consumedSinceUpdate += bytes
            // Batch updates: one frame per quarter window instead of one per chunk.
            guard state.consumedSinceUpdate >= TunnelProtocol.initialStreamWindow / 4 else { return nil }
            let increment = state.consumedSinceUpdate
            state.window += increment
            state.consumedSinceUpdate = 0
            return increment
        }
    }
}
