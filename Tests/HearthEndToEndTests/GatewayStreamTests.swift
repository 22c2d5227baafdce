import HearthGateway
import HearthProtocol
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The gateway's end of a request stream: the order of its items whether they are read (``GatewayStream/next()``) or
/// handed to a consumer on the tunnel's event loop (``GatewayStream/attach(_:)``), across the moment of attaching.
@Suite struct GatewayStreamTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    /// What a consumer saw, as text: `d:<bytes>`, `end`, `finished`, `failed`.
    final class Seen: Sendable {
        let items = Mutex<[String]>([])
        let onLoop = Mutex<[Bool]>([])
        let done: AsyncStream<Void>
        private let finish: AsyncStream<Void>.Continuation
        init() { (done, finish) = AsyncStream.makeStream() }

        func record(_ item: StreamItem, on loop: any EventLoop) {
            let text: String
            switch item {
            case .event(.data(let bytes)): text = "d:" + String(buffer: bytes)
            case .event(.end): text = "end"
            case .finished: text = "finished"
            case .failed: text = "failed"
            }
            items.withLock { $0.append(text) }
            onLoop.withLock { $0.append(loop.inEventLoop) }
            switch item {
            case .finished, .failed: finish.finish()
            case .event: break
            }
        }
    }

    static func opened(on loop: any EventLoop) throws -> GatewayStream {
        let stream = GatewayStream(id: 1, window: 1 << 20, eventLoop: loop)
        try stream.receiveHead(StreamHead(status: 200, contentType: "text/event-stream"))
        return stream
    }

    @Test func itemsInBeforeTheConsumerAttachesReachItFirstInOrderThenTheRestOnTheLoop() async throws {
        let loop = Self.group.next()
        let stream = try Self.opened(on: loop)
        try await loop.submit {
            try stream.receive(.data(ByteBuffer(string: "a")))
            try stream.receive(.data(ByteBuffer(string: "b")))
        }.get()
        let seen = Seen()
        stream.attach { seen.record($0, on: loop) }
        try await loop.submit {
            try stream.receive(.data(ByteBuffer(string: "c")))
            try stream.receive(.end(StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: nil)))
        }.get()
        for await _ in seen.done {}
        #expect(seen.items.withLock { $0 } == ["d:a", "d:b", "d:c", "end", "finished"])
        // Held items go over on the attaching thread; later ones on the tunnel's loop.
        #expect(seen.onLoop.withLock { Array($0.suffix(3)) } == [true, true, true])
    }

    @Test func aFailureFromAnotherThreadReachesTheConsumerOnTheLoopAfterWhatCameBefore() async throws {
        let loop = Self.group.next()
        let stream = try Self.opened(on: loop)
        let seen = Seen()
        stream.attach { seen.record($0, on: loop) }
        try await loop.submit { try stream.receive(.data(ByteBuffer(string: "a"))) }.get()
        stream.fail(CancellationError())
        // Frames after the failure are ignored.
        try await loop.submit { try stream.receive(.data(ByteBuffer(string: "late"))) }.get()
        for await _ in seen.done {}
        #expect(seen.items.withLock { $0 } == ["d:a", "failed"])
        #expect(seen.onLoop.withLock { $0 } == [true, true])
    }

    @Test func aReaderGetsTheEventsThenTheCloseAsOftenAsItAsks() async throws {
        let loop = Self.group.next()
        let stream = try Self.opened(on: loop)
        async let first = stream.next()
        try await loop.submit {
            try stream.receive(.data(ByteBuffer(string: "a")))
            try stream.receive(.end(StreamEnd(usage: nil, engineTimeToFirstTokenMilliseconds: nil, error: nil)))
        }.get()
        guard case .event(.data(let bytes)) = await first else { Issue.record("expected data"); return }
        #expect(String(buffer: bytes) == "a")
        guard case .event(.end) = await stream.next() else { Issue.record("expected the end"); return }
        for _ in 0..<2 {
            guard case .finished = await stream.next() else { Issue.record("expected the close"); return }
        }
        // The close is still there for a consumer that attaches after a reader saw it (a hedge race, then the relay).
        let seen = Seen()
        stream.attach { seen.record($0, on: loop) }
        for await _ in seen.done {}
        #expect(seen.items.withLock { $0 } == ["finished"])
    }

    @Test func aCancelledReaderStopsWaitingAndTheStreamGoesOn() async throws {
        let loop = Self.group.next()
        let stream = try Self.opened(on: loop)
        let reader = Task { await stream.next() }
        reader.cancel()
        guard case .failed(let error) = await reader.value else { Issue.record("expected a failure"); return }
        #expect(error is CancellationError)
        try await loop.submit { try stream.receive(.data(ByteBuffer(string: "a"))) }.get()
        guard case .event(.data(let bytes)) = await stream.next() else { Issue.record("expected data"); return }
        #expect(String(buffer: bytes) == "a")
    }
}
