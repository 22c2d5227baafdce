import HearthCore
import HearthSim
import Synchronization
import Testing

/// A fake engine: answers at once with timings derived from the request, and records what was in flight.
final class RecordingClient: ValidationEngineClient {
    struct State {
        var inFlight: [Int: Int] = [:]
        var maxInFlight = 0
        var order: [Int] = []
        var failures: Set<Int> = []
    }

    let state = Mutex(State())

    init(failing: Set<Int> = []) {
        state.withLock { $0.failures = failing }
    }

    struct Refused: Error {}

    func send(_ request: ValidationRequest, sentAt: Double) async throws -> ValidationObservation {
        let fails = state.withLock { state -> Bool in
            state.inFlight[request.conversation, default: 0] += 1
            state.maxInFlight = max(state.maxInFlight, state.inFlight.values.reduce(0, +))
            state.order.append(request.id)
            return state.failures.contains(request.id)
        }
        await Task.yield()
        state.withLock { $0.inFlight[request.conversation, default: 0] -= 1 }
        if fails { throw Refused() }
        return ValidationObservation(
            id: request.id, sentAt: sentAt, ttft: 0.01 * Double(request.promptTokens),
            e2e: 0.01 * Double(request.promptTokens + request.outputTokens),
            promptTokens: request.promptTokens, cachedTokens: 0, completionTokens: request.outputTokens)
    }
}

@Suite struct ValidationReplayerTests {
    @Test("clients start a stagger apart, so an idle engine sees their first requests in a known order")
    func clientsStartStaggered() async {
        let requests = ValidationWorkloadGenerator(shape: .smoke, seed: 3).generate(.codeDecode)
        let observed = await ValidationReplayer(concurrency: 3, startStaggerSeconds: 0.01).run(requests, client: RecordingClient())
        #expect(Set(observed.map(\.id)) == Set(requests.map(\.id)))
        // The test's client answers at once, so a later client may find the work done; those that sent waited their turn.
        for client in 0..<3 {
            guard let first = observed.filter({ $0.client == client }).map(\.sentAt).min() else { continue }
            #expect(first >= 0.01 * Double(client))
        }
    }

    @Test func conversationsKeepTheirOrderAndConcurrencyIsBounded() async {
        let requests = ValidationWorkloadGenerator(shape: .smoke, seed: 3).generate(.chatReuse)
        let client = RecordingClient()
        let observed = await ValidationReplayer(concurrency: 2, startStaggerSeconds: 0).run(requests, client: client)
        #expect(Set(observed.map(\.id)) == Set(requests.map(\.id)))
        let state = client.state.withLock { $0 }
        #expect(state.maxInFlight <= 2)
        // No conversation ever has two requests in flight, and turns go in order.
        #expect(state.inFlight.values.allSatisfy { $0 == 0 })
        // Each client's first request has no gap, its later ones the time since its previous answer ended.
        for client in 0..<2 {
            let sent = observed.filter { $0.client == client }.sorted { $0.sentAt < $1.sentAt }
            #expect(sent.first?.gap == nil)
            for (before, after) in zip(sent, sent.dropFirst()) {
                let gap = after.gap ?? -1
                #expect(abs(gap - max(0, after.sentAt - before.sentAt - before.e2e)) < 1e-9)
            }
        }
        for conversation in ValidationReplayer.conversations(requests) {
            let positions = conversation.map { request in state.order.firstIndex(of: request.id) ?? -1 }
            #expect(positions == positions.sorted())
        }
    }

    @Test func failedRequestsAreReportedAndLeftOut() async {
        let requests = ValidationWorkloadGenerator(shape: .smoke, seed: 3).generate(.codeDecode)
        let failed = Mutex<[Int]>([])
        let observed = await ValidationReplayer(concurrency: 1).run(requests, client: RecordingClient(failing: [1])) { request, _ in
            failed.withLock { $0.append(request.id) }
        }
        #expect(failed.withLock { $0 } == [1])
        #expect(!observed.map(\.id).contains(1))
        #expect(observed.count == requests.count - 1)
    }

    @Test func aRunHasARowPerWorkloadAndLevelWithFiniteErrors() async throws {
        let generator = ValidationWorkloadGenerator(shape: .smoke, seed: 3)
        let profile = ValidationProfile(
            node: NodeProfile(
                model: "m", prefillTokensPerSecond: 100, decodeBaseSeconds: 0.01, decodePerSequenceSeconds: 0, maxBatch: 4),
            decodeSecondsPerContextToken: 1e-6)
        let run = ValidationRun(
            workloads: ValidationWorkload.allCases.map { (name: $0.rawValue, requests: generator.generate($0)) }, concurrencies: [1, 2],
            profile: profile, contextTokens: 8192, speedCheck: ValidationSpeedCheck())
        let (rows, overall, levels) = await run.run(client: RecordingClient())
        #expect(levels.count == rows.count)
        // Each level's speed was checked before it, and its row says what was found.
        #expect(levels.allSatisfy { $0.speed != nil })
        #expect(rows.map(\.speed) == levels.map(\.speed))
        #expect(rows.map(\.workload) == ["chat-reuse", "chat-reuse", "document-prefill", "document-prefill", "code-decode", "code-decode"])
        #expect(rows.map(\.concurrency) == [1, 2, 1, 2, 1, 2])
        for row in rows + [try #require(overall)] {
            #expect(row.matched == row.requests)
            for metric in [row.ttft, row.tpot, row.e2e] {
                let value = try #require(metric)
                #expect(value.mape.isFinite)
            }
            #expect(row.baseline?.e2e?.isFinite == true)
        }
    }
}

@Suite struct ValidationSimulationTests {
    static let profile = NodeProfile(
        model: "m", prefillTokensPerSecond: 1000, decodeBaseSeconds: 0.01, decodePerSequenceSeconds: 0, maxBatch: 4, linkRTTSeconds: 0)

    func request(_ id: Int) -> ValidationRequest {
        ValidationRequest(
            id: id, workload: "w", conversation: id, segments: [PromptSegment(key: UInt64(id), tokens: 100)], outputTokens: 11,
            taskClass: .code)
    }

    @Test func aClosedLoopClientSendsWhenItsSimulatedAnswerEnds() throws {
        // One client, two requests: the real engine was fast (the second went out at 0.15 s), the simulated one
        // takes 0.1 s prefill + 10 × 0.01 s decode = 0.2 s, so the second arrives at 0.2 s plus the 0.05 s gap and never
        // overlaps the first.
        var first = ValidationObservation(id: 0, sentAt: 0, ttft: 0.05, e2e: 0.1, promptTokens: 100, cachedTokens: 0, completionTokens: 11)
        first.client = 0
        var second = ValidationObservation(
            id: 1, sentAt: 0.15, ttft: 0.05, e2e: 0.1, promptTokens: 100, cachedTokens: 0, completionTokens: 11)
        second.client = 0
        second.gap = 0.05
        let simulated = ValidationSimulation.simulate(
            requests: [request(0), request(1)], observations: [first, second], profile: Self.profile, contextTokens: 4096,
            configuration: ValidationSimulation.validationConfiguration(ValidationProfile(node: Self.profile)))
        let timing = try #require(simulated[1])
        #expect(abs(timing.ttft - 0.1) < 1e-9)
        #expect(abs(try #require(timing.tpot) - 0.01) < 1e-9)
        // Open loop (no gap recorded) it would arrive mid-decode and wait behind nothing but share the node.
        second.gap = nil
        let open = ValidationSimulation.simulate(
            requests: [request(0), request(1)], observations: [first, second], profile: Self.profile, contextTokens: 4096,
            configuration: ValidationSimulation.validationConfiguration(ValidationProfile(node: Self.profile)))
        #expect(try #require(open[0]).e2e > 0.2 + 1e-6)
    }
}
