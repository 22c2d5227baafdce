import Foundation
import HearthCore
import HearthNode
import HearthProtocol
import NIOCore
import Synchronization

/// A clock tests move by hand (per-tenant rate limits): no sleeping.
final class ManualClock: Clock, Sendable {
    typealias Instant = ContinuousClock.Instant
    private let base = ContinuousClock.now
    private let offset = Mutex<Duration>(.zero)

    var now: Instant { base + offset.withLock { $0 } }
    var minimumResolution: Duration { .nanoseconds(1) }

    func advance(by duration: Duration) { offset.withLock { $0 += duration } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        // Nothing under test sleeps on this clock; a sleeper waits in real time for the manual offset.
        try await ContinuousClock().sleep(until: deadline - offset.withLock { $0 }, tolerance: tolerance)
    }
}

/// A scripted engine that reports another engine kind (`openai` takes a cache salt, `llama` does not).
struct KindedEngine: Engine {
    let kind: String
    let inner: TestEngine

    var slots: Int { inner.slots }
    func models() async throws -> [ServedModel] { try await inner.models() }
    func isHealthy() async -> Bool { true }
    func calibrate(_ model: ServedModel) async -> NodeProfile? { await inner.calibrate(model) }
    func run(_ request: EngineRequest, onHead: (StreamHead) async throws -> Void, onData: (ByteBuffer) async throws -> Void) async throws {
        try await inner.run(request, onHead: onHead, onData: onData)
    }
}

/// The request bodies an engine received, in order.
final class BodyRecorder: Sendable {
    private let bodies = Mutex<[String]>([])

    func record(_ request: EngineRequest) {
        let text = String(buffer: request.body)
        bodies.withLock { $0.append(text) }
    }

    var raw: [String] { bodies.withLock { $0 } }

    var all: [[String: Any]] {
        raw.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) ?? ["unparsable": true] }
    }
}

/// Which tenants' requests an engine runs at once, by the marker each test puts in its prompts; counts the
/// moments where an isolated tenant ran beside another.
final class BatchWatcher: Sendable {
    private struct State {
        var running: [String: Int] = [:]
        var violations: [String] = []
        var started: [String] = []
        var gates: [String: TestGate] = [:]
        var watchers: [(Int, CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())
    let isolated: Set<String>

    init(isolated: Set<String>) { self.isolated = isolated }

    func gate(_ tenant: String) -> TestGate {
        state.withLock { state in
            if let gate = state.gates[tenant] { return gate }
            let gate = TestGate()
            state.gates[tenant] = gate
            return gate
        }
    }

    static func tenant(of request: EngineRequest) -> String {
        let text = String(buffer: request.body)
        guard let range = text.range(of: "tenant:") else { return "?" }
        return String(text[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" })
    }

    var violations: [String] { state.withLock { $0.violations } }
    var started: [String] { state.withLock { $0.started } }

    /// Returns once `count` requests have started on the engine.
    func waitForStarts(_ count: Int) async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.started.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// A behaviour: record the start, check the batch, wait on the tenant's gate, answer, record the end.
    var behaviour: TestEngine.Behaviour {
        { [self] request, _, emit in
            let tenant = Self.tenant(of: request)
            let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.running[tenant, default: 0] += 1
                state.started.append(tenant)
                let tenants = Set(state.running.filter { $0.value > 0 }.keys)
                if tenants.count > 1, !tenants.isDisjoint(with: isolated) {
                    state.violations.append("ran together: \(tenants.sorted())")
                }
                let count = state.started.count
                let ready = state.watchers.filter { $0.0 <= count }.map(\.1)
                state.watchers.removeAll { $0.0 <= count }
                return ready
            }
            for watcher in ready { watcher.resume() }
            defer { state.withLock { $0.running[tenant, default: 1] -= 1 } }
            try await gate(tenant).wait()
            for chunk in TestEngine.json(text: "ok") { try await emit(chunk) }
        }
    }
}
