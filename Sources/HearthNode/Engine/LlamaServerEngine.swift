public import AsyncHTTPClient
import Foundation
public import HearthCore
public import HearthProtocol
public import Logging
public import NIOCore
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where to find llama-server and its model, and how to run it.
public struct LlamaServerConfiguration: Sendable {
    public var binary: String
    public var model: String
    /// The name clients use for the model.
    public var modelName: String
    public var slots = 2
    public var threads = 1
    /// Context per slot, in tokens (llama-server splits `-c` between slots).
    public var contextTokensPerSlot = 2048
    public var startupTimeout: Duration = .seconds(60)
    /// `hearth-engine-guard`, which ties the engine's life to this process's (nil: the one beside the executable).
    public var guardBinary: String?
    /// Where the agent records its engine process so that its next run stops it if this one dies without doing so
    /// (``EngineLeftoverReaper``); nil records nothing and reaps nothing.
    public var processRecordFile: String?

    public init(binary: String, model: String, modelName: String) {
        self.binary = binary
        self.model = model
        self.modelName = modelName
    }
}

/// The embedded default engine: a `llama-server` process that this node owns. It starts the
/// process on a free loopback port, waits for its health endpoint, restarts it if it dies and
/// stops it on shutdown. Requests go to it through ``OpenAICompatibleEngine``.
///
/// The process runs under `hearth-engine-guard` (``EngineGuard``), so it dies with this agent even when the agent is
/// SIGKILLed; with ``LlamaServerConfiguration/processRecordFile`` set, an engine an earlier run left anyway (its guard
/// was killed too) is stopped before the first start (``EngineLeftoverReaper``).
public final class LlamaServerEngine: Engine, Service {
    public let kind = "llama"
    public var slots: Int { configuration.slots }
    private let configuration: LlamaServerConfiguration
    private let client: HTTPClient
    private let logger: Logger
    private let state = Mutex(State())
    /// Which slot holds which cache partition: llama-server has no salt, so the node pins partitions to slots.
    private let partitions: Mutex<SlotPartitions>
    private let started = ReadyFlag()
    private let lifecycle: AsyncStream<LifecycleEvent>.Continuation

    /// What happens to the engine process, in order: tests and operators watch restarts here.
    public let lifecycleEvents: AsyncStream<LifecycleEvent>

    public enum LifecycleEvent: Sendable, Equatable {
        case started(pid: Int32, port: Int)
        case exited(status: Int32)
    }

    private struct State {
        /// The guard; its exit status is the engine's.
        var process: Process?
        var enginePID: Int32?
        var lifeline: Lifeline?
        var inner: OpenAICompatibleEngine?
        var restarts = 0
    }

    public init(configuration: LlamaServerConfiguration, client: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
        self.partitions = Mutex(SlotPartitions(slots: configuration.slots))
        (lifecycleEvents, lifecycle) = AsyncStream.makeStream()
    }

    /// Times the process was restarted after dying.
    public var restarts: Int { state.withLock { $0.restarts } }

    /// The engine's process id while it runs (tests kill it to check the restart).
    public var processIdentifier: Int32? { state.withLock { $0.enginePID } }

    /// Waits until the first start finished.
    public func ready() async { await started.wait() }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            if let records = configuration.processRecordFile {
                await EngineLeftoverReaper(path: records, logger: logger).reap()
            }
            var first = true
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let (process, exited) = try await launch()
                if first {
                    first = false
                    started.set()
                }
                await exited.wait()
                state.withLock { $0.lifeline?.cut() }
                if let records = configuration.processRecordFile {
                    EngineLeftoverReaper(path: records, logger: logger).forget()
                }
                lifecycle.yield(.exited(status: process.terminationStatus))
                if Task.isCancelled || Task.isShuttingDownGracefully { break }
                logger.warning("llama-server exited; restarting", metadata: ["status": "\(process.terminationStatus)"])
                state.withLock {
                    $0.restarts += 1
                    $0.inner = nil
                }
                partitions.withLock { $0.forgetAll() }
            }
        } onGracefulShutdown: {
            self.stopProcess()
        }
        stopProcess()
        lifecycle.finish()
    }

    /// Starts llama-server under its guard; the flag is set when it exits. Foundation's `terminationHandler` (its
    /// SIGCHLD source) sets it: no thread waits in `waitUntilExit`, whose run loop spun a whole core on a dispatch
    /// thread (issue 12).
    private func launch() async throws -> (Process, exited: ReadyFlag) {
        let guardPath = try EngineGuard.locate(explicit: configuration.guardBinary)
        let port = try FreePort.find()
        let arguments = [
            "-m", configuration.model, "--host", "127.0.0.1", "--port", String(port),
            "-t", String(configuration.threads), "-np", String(configuration.slots),
            "-c", String(configuration.contextTokensPerSlot * configuration.slots),
            "--metrics", "--no-webui", "--alias", configuration.modelName, "--log-disable", "--no-slots", "--cache-ram", "0",
        ]
        let exited = ReadyFlag()
        let launched = try await EngineGuard.launch(
            guardPath: guardPath, binary: configuration.binary, arguments: arguments, onExit: { exited.set() })
        let process = launched.process
        if let records = configuration.processRecordFile {
            EngineLeftoverReaper(path: records, logger: logger).remember(enginePID: launched.enginePID)
        }
        let engine = OpenAICompatibleEngine(
            baseURL: "http://127.0.0.1:\(port)",
            kind: kind,
            slots: configuration.slots,
            client: client,
            defaultContextTokens: configuration.contextTokensPerSlot
        )
        state.withLock {
            $0.process = process
            $0.enginePID = launched.enginePID
            $0.lifeline = launched.lifeline
        }
        // Poll health until it answers: the process gives no other readiness signal.
        let deadline = ContinuousClock.now + configuration.startupTimeout
        while !(await engine.isHealthy()) {
            guard process.isRunning else {
                throw EngineError("llama-server exited during startup with status \(process.terminationStatus)")
            }
            guard ContinuousClock.now < deadline else {
                process.terminate()
                throw EngineError("llama-server did not become healthy within \(configuration.startupTimeout)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        state.withLock { $0.inner = engine }
        lifecycle.yield(.started(pid: launched.enginePID, port: port))
        logger.info("llama-server ready", metadata: ["port": "\(port)", "pid": "\(launched.enginePID)"])
        return (process, exited)
    }

    /// SIGTERM to the guard, which forwards it to the engine.
    private func stopProcess() {
        guard let process = state.withLock({ $0.process }), process.isRunning else { return }
        process.terminate()
        let pid = process.processIdentifier
        // SIGKILL if it ignores SIGTERM for two seconds: the guard dies, and the engine with it (its parent-death
        // signal).
        DispatchQueue.global().asyncAfter(deadline: .now() + 2) {
            if process.isRunning { kill(pid, SIGKILL) }
        }
    }

    private func current() throws -> OpenAICompatibleEngine {
        guard let inner = state.withLock({ $0.inner }) else { throw EngineError("llama-server is not running") }
        return inner
    }

    public func models() async throws -> [ServedModel] {
        await started.wait()
        return [ServedModel(id: configuration.modelName, contextTokens: configuration.contextTokensPerSlot)]
    }

    /// llama.cpp's server has no `cache_salt`, but this node gives it one by construction (``SlotPartitions``:
    /// a slot's cache is reused only by the partition that filled it), so it honours salts without a probe at every
    /// start; `LlamaCacheIsolationTests` runs ``CacheSaltProbe`` against the real engine to show it.
    public func probeCacheSalt(model: ServedModel) async -> CacheSaltProbeResult? { .honoured }

    public func isHealthy() async -> Bool {
        guard let inner = try? current() else { return false }
        return await inner.isHealthy()
    }

    public func run(
        _ request: EngineRequest,
        onHead: (StreamHead) async throws -> Void,
        onData: (ByteBuffer) async throws -> Void
    ) async throws {
        let engine = try current()
        let prompt = SlotPartitions.promptHashes(of: request.body)
        let assignment = partitions.withLock { $0.assign(partition: Self.cacheSalt(in: request.body), prompt: prompt) }
        defer { partitions.withLock { $0.release(assignment.slot) } }
        var pinned = request
        pinned.body = Self.pinned(request.body, to: assignment)
        try await engine.run(pinned, onHead: onHead, onData: onData)
    }

    /// The same slot choice as ``run(_:onHead:onData:)``; the slot is freed when the relay reports the answer over.
    public func httpTarget(for request: EngineRequest) -> EngineHTTPTarget? {
        guard let engine = try? current() else { return nil }
        let prompt = SlotPartitions.promptHashes(of: request.body)
        let assignment = partitions.withLock { $0.assign(partition: Self.cacheSalt(in: request.body), prompt: prompt) }
        var pinned = request
        pinned.body = Self.pinned(request.body, to: assignment)
        guard var target = engine.httpTarget(for: pinned) else {
            partitions.withLock { $0.release(assignment.slot) }
            return nil
        }
        target.finished = { [self] in partitions.withLock { $0.release(assignment.slot) } }
        return target
    }
}

/// A one-shot flag that tasks can wait on.
final class ReadyFlag: Sendable {
    private let state = Mutex<(set: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func set() {
        let waiters = state.withLock { state in
            state.set = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if !state.set { state.waiters.append(continuation) }
                return state.set
            }
            if ready { continuation.resume() }
        }
    }
}

/// Finds a free loopback TCP port by binding port 0 and reading what the kernel chose.
enum FreePort {
    static func find() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw EngineError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw EngineError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw EngineError("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
