package import HearthProtocol
package import NIOCore
import Synchronization

/// What a node sends on one request stream after its head.
package enum StreamEvent: Sendable {
    case data(ByteBuffer)
    case end(StreamEnd)
}

/// One item of a stream's body as its reader sees it: an event, the stream's normal close, or its failure.
package enum StreamItem: Sendable {
    case event(StreamEvent)
    /// No more events (after an `end`, or a stream closed without one).
    case finished
    /// The stream failed (node lost, protocol violation, timeout, client gone). Nothing follows.
    case failed(any Error)
}

/// The gateway's end of one request stream on a node tunnel.
///
/// Frames arrive on the tunnel's event loop. The HTTP handler awaits the head with ``head()``, then either reads the
/// body one item at a time (``next()``), or hands it to a consumer (``attach(_:)``) that runs on the tunnel's event
/// loop as frames arrive, so that relaying an event costs no task switch (issue 13). The node may not send more data
/// than the window the gateway granted: that bounds what a slow client or a hostile node can make the gateway buffer.
package final class GatewayStream: Sendable {
    package let id: UInt32
    /// The tunnel's event loop: where frames arrive and where an attached consumer runs.
    package let eventLoop: any EventLoop
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
        /// No more items are accepted: the end, or a failure, is in.
        var finished = false
        /// Items held for ``next()``, while no consumer is attached. A terminal item stays once read.
        var queue = CircularBuffer<StreamItem>(initialCapacity: 4)
        /// A reader parked in ``next()``.
        var waiter: CheckedContinuation<StreamItem, Never>?
        /// Where items go once ``attach(_:)`` has handed over the queue.
        var consumer: (@Sendable (StreamItem) -> Void)?
    }

    package init(id: UInt32, window: Int, eventLoop: any EventLoop) {
        self.id = id
        self.eventLoop = eventLoop
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

    /// The next body item. Not for a stream with a consumer attached; one reader at a time. A reader whose task is
    /// cancelled gets a `CancellationError` failure (the stream itself goes on).
    package func next() async -> StreamItem {
        await withTaskCancellationHandler {
            await withCheckedContinuation { waiter in
                let ready: StreamItem? = state.withLock { state in
                    guard state.consumer == nil else {
                        return .failed(TunnelErrorMessage(code: .other, message: "stream \(id) is read by its consumer"))
                    }
                    guard let item = state.queue.first else {
                        if Task.isCancelled { return .failed(CancellationError()) }
                        state.waiter = waiter
                        return nil
                    }
                    if case .event = item { state.queue.removeFirst() }
                    return item
                }
                if let ready { waiter.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: .failed(CancellationError()))
        }
    }

    /// Hands every body item, those already in and those to come, to `consumer`, in order and one at a time. Items
    /// already in are handed over on the calling thread; later ones on ``eventLoop``. Call once, instead of ``next()``.
    package func attach(_ consumer: @escaping @Sendable (StreamItem) -> Void) {
        while true {
            // Frames that arrive while the held items are handed over queue behind them, so the order holds.
            let held: CircularBuffer<StreamItem>? = state.withLock { state in
                if state.queue.isEmpty {
                    state.consumer = consumer
                    return nil
                }
                defer { state.queue.removeAll(keepingCapacity: true) }
                return state.queue
            }
            guard let held else { return }
            for item in held { consumer(item) }
        }
    }

    package func receiveHead(_ head: StreamHead) throws {
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

    /// Delivers data or the end. Throws a ``TunnelErrorMessage`` when the node breaks the protocol. Called on the
    /// tunnel's event loop.
    package func receive(_ event: StreamEvent) throws {
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
            hand(.failed(error))
            return
        }
        guard deliver else { return }
        hand(.event(event))
        if case .end = event { hand(.finished) }
    }

    /// Ends the stream with an error (node lost, protocol violation, timeout). Later frames are ignored.
    package func fail(_ error: any Error) {
        let first = state.withLock { state in
            defer { state.finished = true }
            return !state.finished
        }
        guard first else { return }
        resumeHeadWaiter(throwing: error)
        hand(.failed(error))
    }

    /// Queues `item` for the reader, or hands it to the consumer (on the event loop: a failure may come from any thread).
    private func hand(_ item: StreamItem) {
        enum Route {
            case done
            case wake(CheckedContinuation<StreamItem, Never>)
            case consume(@Sendable (StreamItem) -> Void)
        }
        let route = state.withLock { state -> Route in
            if let consumer = state.consumer { return .consume(consumer) }
            if let waiter = state.waiter {
                state.waiter = nil
                // A reader that takes a terminal item finds it again on its next call.
                if case .event = item {} else { state.queue.append(item) }
                return .wake(waiter)
            }
            state.queue.append(item)
            return .done
        }
        switch route {
        case .done:
            break
        case .wake(let waiter):
            waiter.resume(returning: item)
        case .consume(let consumer):
            if eventLoop.inEventLoop {
                consumer(item)
            } else {
                eventLoop.execute { consumer(item) }
            }
        }
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
