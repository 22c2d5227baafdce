import Foundation
import HearthCore
import HearthGateway
import HearthNode
import HearthProtocol
import NIOCore
import Synchronization
import Testing

/// Issue 12, "Prefix hashes at the gateway": the gateway hashes each prompt's leading blocks, salted by the cache
/// partition, so that a shared system prompt or document routes to the node that holds it, within a tenant only.
///
/// Every request is held at its engine until all are placed, so each decision sees the load of the ones before it:
/// without affinity a request goes to the least busy node.
@Suite struct PrefixHashRoutingTests {
    /// About 1,250 tokens.
    static let systemPrompt = String(repeating: "You answer for the Hartley & Sons help desk, politely. ", count: 90)
    /// Bytes of a gateway prefix block (64 tokens of 4 bytes).
    static let blockBytes = PromptPrefixHasher.routingBlockTokens * PromptPrefixHasher.bytesPerToken
    /// Tokens the gateway credits as cached when two chats share this system prompt and then differ in their user turn:
    /// the whole blocks of the system message's boundary (`0x00 system 0x01`, 8 bytes), its text and the user
    /// message's boundary (6 bytes).
    static let sharedSystemPromptTokens = (8 + systemPrompt.utf8.count + 6) / blockBytes * PromptPrefixHasher.routingBlockTokens

    static func chat(system: String = systemPrompt, _ question: String) -> [String: Any] {
        chatBody(
            model: "test-model", extra: ["messages": [["role": "system", "content": system], ["role": "user", "content": question]]])
    }

    /// The cached prompt tokens an affinity decision names (nil for any other decision).
    static func cachedTokens(_ response: CollectedResponse) -> Int? {
        guard let decision = response.headers["x-hearth-decision"], decision.hasPrefix("session affinity: ") else { return nil }
        return Int(decision.dropFirst("session affinity: ".count).prefix { $0.isNumber })
    }

    /// Three nodes (four slots each) whose requests wait at one gate; `honoursSalts`: their engines showed at join that
    /// they keep cache partitions apart (and so reuse a partition's prompt cache).
    static func nodes(honoursSalts: Bool, starts: StartCounter, gate: TestGate) -> [TestNodeSpec] {
        (1...3).map { n in
            // A 20 ms decode step: the time per token, which each running sequence lengthens, is what a margin turns on.
            let engine = TestEngine(decodeStepSeconds: 0.02) { _, _, emit in
                starts.started()
                try await gate.wait()
                for chunk in TestEngine.json(text: "ok") { try await emit(chunk) }
            }
            return TestNodeSpec(id: "n\(n)", engine: honoursSalts ? SaltHonouringEngine(inner: engine) : engine)
        }
    }

    /// Sends `requests` one after another, each once the one before it reached its engine (or was answered without),
    /// then lets them all finish; the answers in order.
    static func holdAll(
        _ requests: [(path: String, body: [String: Any], key: String?)], fleet: TestFleet, starts: StartCounter, gate: TestGate
    ) async throws -> [CollectedResponse] {
        try await withThrowingTaskGroup(of: (Int, CollectedResponse).self) { group in
            for (index, request) in requests.enumerated() {
                let (path, body, key) = (
                    request.path, try JSONSerialization.data(withJSONObject: request.body), request.key ?? fleet.apiKey
                )
                group.addTask {
                    let response = try await fleet.post(path, body: body, apiKey: key)
                    starts.started()  // only counts while the gate is shut when the request never reached an engine
                    return (index, response)
                }
                await starts.wait(for: index + 1)
            }
            gate.open()
            var responses = [CollectedResponse?](repeating: nil, count: requests.count)
            for try await (index, response) in group { responses[index] = response }
            return responses.map { $0! }
        }
    }

    @Test("a shared system prompt gathers its requests on one node; other prompts spread over the rest")
    func sharedSystemPromptLandsOnOneNode() async throws {
        let starts = StartCounter()
        let gate = TestGate()
        try await withTestFleet(nodes: Self.nodes(honoursSalts: true, starts: starts, gate: gate)) { fleet in
            let shared = ["Where is parcel 4471?", "Can I return a kettle?", "Do you deliver on Sundays?"].map {
                (path: "/v1/chat/completions", body: Self.chat($0), key: String?.none)
            }
            let others = ["You are a poet. ", "You are a tax adviser. "].map { system in
                (path: "/v1/chat/completions", body: Self.chat(system: String(repeating: system, count: 250), "Hello?"), key: String?.none)
            }
            let answers = try await Self.holdAll(shared + others, fleet: fleet, starts: starts, gate: gate)
            #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.map(\.body))")
            let nodes = answers.map { $0.headers["x-hearth-node"] ?? "-" }
            let home = nodes[0]
            // Different users (different sessions) of one system prompt: routed by its blocks, its tokens cached.
            #expect(nodes[0..<3].allSatisfy { $0 == home }, "\(nodes)")
            for answer in answers[1..<3] {
                #expect(Self.cachedTokens(answer) == Self.sharedSystemPromptTokens, "\(answer.headers["x-hearth-decision"] ?? "")")
            }
            #expect(Self.cachedTokens(answers[0]) == nil)
            // Prompts that share nothing go where the margin is best: the two idle nodes, one each.
            #expect(Set(nodes[3...]).count == 2 && !nodes[3...].contains(home), "\(nodes)")
            #expect(answers[3...].allSatisfy { $0.headers["x-hearth-decision"]?.hasPrefix("best predicted SLO margin") == true })
        }
    }

    @Test("two tenants with the same prompt share no affinity: the hashes are salted by the cache partition")
    func tenantsDoNotShareAffinity() async throws {
        let starts = StartCounter()
        let gate = TestGate()
        try await withTestFleet(nodes: Self.nodes(honoursSalts: true, starts: starts, gate: gate)) { fleet in
            let tenantB = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "tenant-b"))
            let answers = try await Self.holdAll(
                [
                    (path: "/v1/chat/completions", body: Self.chat("Where is parcel 4471?"), key: nil),
                    (path: "/v1/chat/completions", body: Self.chat("Where is parcel 4471?"), key: tenantB),
                    (path: "/v1/chat/completions", body: Self.chat("Where is parcel 9000?"), key: nil),
                ], fleet: fleet, starts: starts, gate: gate)
            #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.map(\.body))")
            let nodes = answers.map { $0.headers["x-hearth-node"] ?? "-" }
            // Tenant B's identical prompt does not follow tenant A's to its node, nor is a cache hit predicted for it.
            #expect(nodes[1] != nodes[0], "\(nodes)")
            #expect(Self.cachedTokens(answers[1]) == nil, "\(answers[1].headers["x-hearth-decision"] ?? "")")
            // Tenant A's next user does.
            #expect(nodes[2] == nodes[0], "\(nodes)")
            #expect(Self.cachedTokens(answers[2]) == Self.sharedSystemPromptTokens)
        }
    }

    @Test("without a session key (a token-id prompt), the next request over the same prefix follows it by its blocks")
    func aLongerPromptOverTheSamePrefixFollowsWithoutASessionKey() async throws {
        let starts = StartCounter()
        let gate = TestGate()
        try await withTestFleet(nodes: Self.nodes(honoursSalts: true, starts: starts, gate: gate)) { fleet in
            func prompt(_ tokens: Range<Int>) -> [String: Any] { ["model": "test-model", "prompt": Array(tokens), "max_tokens": 8] }
            let answers = try await Self.holdAll(
                [
                    (path: "/v1/completions", body: prompt(0..<1100), key: nil),
                    (path: "/v1/completions", body: prompt(5000..<6100), key: nil),
                    (path: "/v1/completions", body: prompt(0..<1500), key: nil),
                ], fleet: fleet, starts: starts, gate: gate)
            #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.map(\.body))")
            let nodes = answers.map { $0.headers["x-hearth-node"] ?? "-" }
            #expect(nodes[1] != nodes[0], "an unrelated prompt spreads: \(nodes)")
            #expect(nodes[2] == nodes[0], "\(nodes)")
            // The 1,100 shared tokens' whole 64-token blocks (the first prompt's partial 17th block ends sooner).
            #expect(Self.cachedTokens(answers[2]) == 1100 / 64 * 64, "\(answers[2].headers["x-hearth-decision"] ?? "")")
        }
    }

    @Test("questions over a document shorter than 512 tokens, each its own conversation, go to the node that read it")
    func questionsOverAShortDocumentFollowIt() async throws {
        let starts = StartCounter()
        let gate = TestGate()
        try await withTestFleet(nodes: Self.nodes(honoursSalts: true, starts: starts, gate: gate)) { fleet in
            let document = String(repeating: "The boiler is serviced each May by Hartley & Sons. ", count: 26)  // about 330 tokens
            func question(_ text: String, over document: String) -> [String: Any] {
                chatBody(model: "test-model", extra: ["messages": [["role": "user", "content": "Document:\n\(document)\n\n\(text)"]]])
            }
            let other = String(repeating: "Clause 4: the tenant pays the water rates quarterly. ", count: 25)
            let answers = try await Self.holdAll(
                [
                    (path: "/v1/chat/completions", body: question("Who services the boiler?", over: document), key: nil),
                    (path: "/v1/chat/completions", body: question("Who pays the water rates?", over: other), key: nil),
                    (path: "/v1/chat/completions", body: question("In which month?", over: document), key: nil),
                ], fleet: fleet, starts: starts, gate: gate)
            #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.map(\.body))")
            let nodes = answers.map { $0.headers["x-hearth-node"] ?? "-" }
            #expect(nodes[1] != nodes[0], "another document spreads: \(nodes)")
            #expect(nodes[2] == nodes[0], "\(nodes)")
            // The user message's boundary, "Document:\n", the document and "\n\n": whole 64-token blocks of them.
            let shared = (6 + 10 + document.utf8.count + 2) / Self.blockBytes * PromptPrefixHasher.routingBlockTokens
            #expect(Self.cachedTokens(answers[2]) == shared, "\(answers[2].headers["x-hearth-decision"] ?? "")")
        }
    }

    @Test("an engine that reuses no prompt cache is not credited with one: the shared prompt spreads like any other")
    func nodesWithoutPromptCacheGetNoPrefixAffinity() async throws {
        let starts = StartCounter()
        let gate = TestGate()
        try await withTestFleet(nodes: Self.nodes(honoursSalts: false, starts: starts, gate: gate)) { fleet in
            let answers = try await Self.holdAll(
                ["Where is parcel 4471?", "Can I return a kettle?"].map { (path: "/v1/chat/completions", body: Self.chat($0), key: nil) },
                fleet: fleet, starts: starts, gate: gate)
            #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.map(\.body))")
            #expect(answers[1].headers["x-hearth-node"] != answers[0].headers["x-hearth-node"])
            #expect(Self.cachedTokens(answers[1]) == nil, "\(answers[1].headers["x-hearth-decision"] ?? "")")
        }
    }
}

/// A scripted engine that showed it keeps cache partitions apart, as a probed vLLM or llama-server's node does.
struct SaltHonouringEngine: Engine {
    let inner: TestEngine
    var kind: String { inner.kind }
    var slots: Int { inner.slots }
    func models() async throws -> [ServedModel] { try await inner.models() }
    func isHealthy() async -> Bool { await inner.isHealthy() }
    func calibrate(_ model: ServedModel) async -> NodeProfile? { await inner.calibrate(model) }
    func probeCacheSalt(model: ServedModel) async -> CacheSaltProbeResult? { .honoured }
    func run(_ request: EngineRequest, onHead: (StreamHead) async throws -> Void, onData: (ByteBuffer) async throws -> Void)
        async throws
    {
        try await inner.run(request, onHead: onHead, onData: onData)
    }
}

/// Counts requests that reached an engine; tests await a count instead of sleeping.
final class StartCounter: Sendable {
    private let state = Mutex<(count: Int, waiters: [(Int, CheckedContinuation<Void, Never>)])>((0, []))

    func started() {
        let ready = state.withLock { state in
            state.count += 1
            let count = state.count
            defer { state.waiters.removeAll { $0.0 <= count } }
            return state.waiters.filter { $0.0 <= count }.map(\.1)
        }
        for waiter in ready { waiter.resume() }
    }

    func wait(for count: Int) async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.count >= count { return true }
                state.waiters.append((count, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }
}
