import Foundation
import HearthCore
import HearthNode
import HearthProtocol
import NIOCore
import Synchronization

/// An engine whose behaviour each test scripts, and that reports what happened to its requests
/// as events the test awaits (no sleeping, no polling).
final class TestEngine: Engine {
    enum Event: Sendable, Equatable {
        case started(path: String)
        case cancelled
        case finished
    }

    /// Writes the answer through `emit`; may wait on the gate in between.
    typealias Behaviour = @Sendable (EngineRequest, _ gate: TestGate, _ emit: (ByteBuffer) async throws -> Void) async throws -> Void

    let kind = "test"
    let slots: Int
    let model: String
    let gate = TestGate()
    let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let behaviour: Behaviour
    private let headStatus: Int
    private let decodeStepSeconds: Double
    private let prefillTokensPerSecond: Double

    /// - Parameters decodeStepSeconds, prefillTokensPerSecond: the speed the engine claims in its profile (the
    ///   scheduler plans with it).
    init(
        model: String = "test-model", slots: Int = 4, headStatus: Int = 200, decodeStepSeconds: Double = 0.001,
        prefillTokensPerSecond: Double = 100_000, behaviour: @escaping Behaviour
    ) {
        self.prefillTokensPerSecond = prefillTokensPerSecond
        self.model = model
        self.slots = slots
        self.decodeStepSeconds = decodeStepSeconds
        self.headStatus = headStatus
        self.behaviour = behaviour
        (events, continuation) = AsyncStream.makeStream()
    }

    func models() async throws -> [ServedModel] { [ServedModel(id: model, contextTokens: 32_768)] }
    func isHealthy() async -> Bool { true }

    /// A fast, fixed profile: scripted engines must not see calibration requests.
    func calibrate(_ model: ServedModel) async -> NodeProfile? {
        NodeProfile(
            model: model.id, prefillTokensPerSecond: prefillTokensPerSecond, prefillOverheadSeconds: 0.001,
            decodeBaseSeconds: decodeStepSeconds,
            decodePerSequenceSeconds: 0.0001, maxBatch: slots, prefixCacheBlocks: 0, linkRTTSeconds: 0)
    }

    func run(
        _ request: EngineRequest,
        onHead: (StreamHead) async throws -> Void,
        onData: (ByteBuffer) async throws -> Void
    ) async throws {
        continuation.yield(.started(path: request.path))
        do {
            try await onHead(StreamHead(status: headStatus, contentType: request.stream ? "text/event-stream" : "application/json"))
            try await behaviour(request, gate) { chunk in
                try Task.checkCancellation()
                try await onData(chunk)
            }
            continuation.yield(.finished)
        } catch {
            if error is CancellationError || Task.isCancelled { continuation.yield(.cancelled) }
            throw error
        }
    }

    /// Streams answer "first", then wait at the gate for " second"; a plain request is answered at once. The suites
    /// that hold a stream in flight while something happens to its gateway use it.
    static func firstWordThenGate() -> TestEngine {
        TestEngine { request, gate, emit in
            guard request.stream else {
                for chunk in TestEngine.json(text: "ok") { try await emit(chunk) }
                return
            }
            let chunks = TestEngine.sse(words: ["first", " second"], request: request)
            try await emit(chunks[0])
            try await gate.wait()
            for chunk in chunks.dropFirst() { try await emit(chunk) }
        }
    }

    /// An SSE answer of `words` chat chunks plus a usage chunk when the request asked for one.
    static func sse(words: [String], request: EngineRequest) -> [ByteBuffer] {
        var chunks = words.map { word in
            ByteBuffer(string: #"data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\#(word)"}}]}"# + "\n\n")
        }
        if String(buffer: request.body).contains("\"include_usage\":true") {
            chunks.append(
                ByteBuffer(
                    string:
                        #"data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":\#(words.count),"total_tokens":\#(7 + words.count)}}"#
                        + "\n\n"))
        }
        chunks.append(ByteBuffer(string: "data: [DONE]\n\n"))
        return chunks
    }

    static func json(text: String) -> [ByteBuffer] {
        [
            ByteBuffer(
                string:
                    #"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"\#(text)"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#
            )
        ]
    }
}

/// A gate tests open to let blocked engine requests go on.
final class TestGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    private let arrivals = Mutex<(count: Int, watchers: [CheckedContinuation<Void, Never>])>((0, []))

    /// Returns once some request is waiting at (or has passed through) the gate.
    func waitUntilWaiting() async {
        await withCheckedContinuation { continuation in
            let arrived = arrivals.withLock { arrivals in
                if arrivals.count == 0 { arrivals.watchers.append(continuation) }
                return arrivals.count > 0
            }
            if arrived { continuation.resume() }
        }
    }

    private func arrived() {
        let watchers = arrivals.withLock { arrivals in
            arrivals.count += 1
            defer { arrivals.watchers = [] }
            return arrivals.watchers
        }
        for watcher in watchers { watcher.resume() }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until the gate opens or the task is cancelled.
    func wait() async throws {
        arrived()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let isOpen = state.withLock { state in
                    if !state.open { state.waiters.append(continuation) }
                    return state.open
                }
                if isOpen { continuation.resume() }
            }
        } onCancel: {
            // Let the waiter go so the cancelled request can unwind.
            self.releaseWaiters()
        }
        try Task.checkCancellation()
    }

    private func releaseWaiters() {
        let waiters = state.withLock { state in
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
