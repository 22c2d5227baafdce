import AsyncHTTPClient
import Foundation
import HearthCore
import HearthGateway
import HearthNode
import HearthProtocol
import NIOCore
import Synchronization
import Testing

/// The cross-tenant cache probe against the real engine (llama-server with SmolLM2): tenant B never gets a cache hit
/// or a cache field for tenant A's prompt, and tenant A's repeat of its own prompt does hit its cache.
@Suite("Cache isolation with llama-server", .serialized)
struct LlamaCacheIsolationTests {
    static let prompt =
        "tenant:a The quarterly figures for the Hartley account show a steady rise in revenue across all regions, "
        + "with particular strength in the northern territories where"
    static let cacheFields = ["cached_tokens", "prompt_tokens_details", "timings", "prompt_progress", "cache_n"]

    /// The issue's case: an engine kind proves nothing. A llama-server reached as a plain OpenAI server ignores
    /// `cache_salt` (the probe's other salt hits the cache), while the node's own llama engine keeps partitions apart.
    @Test func theJoinProbeCatchesALlamaServerBehindTheOpenAIKind() async throws {
        try await LlamaSupport.withClient { client in
            let (node, engine) = try LlamaSupport.node(id: "llama", client: client)
            var lifecycle = engine.lifecycleEvents.makeAsyncIterator()
            try await withTestFleet(nodes: [node]) { _ in
                guard case .started(_, let port) = await lifecycle.next() else { Issue.record("engine did not start"); return }
                let model = ServedModel(id: LlamaSupport.modelName, contextTokens: 2048)
                let plain = OpenAICompatibleEngine(baseURL: "http://127.0.0.1:\(port)", kind: "openai", slots: 2, client: client)
                #expect(await plain.probeCacheSalt(model: model) == .ignored)
                #expect(await CacheSaltProbe.run(on: engine, model: model) == .honoured)
            }
        }
    }

    @Test func tenantBNeverHitsTenantAsCacheAndTenantAsRepeatDoes() async throws {
        try await LlamaSupport.withClient { client in
            let (spec, engine) = try LlamaSupport.node(id: "llama", client: client)
            let recorder = CacheHitRecorder(inner: engine)
            var node = spec
            node.engine = recorder
            try await withTestFleet(nodes: [node]) { fleet in
                let tenantB = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "tenant-b"))
                var requestIDs: [String] = []
                func send(_ key: String, stream: Bool) async throws {
                    let answer = try await fleet.post(
                        json: chatBody(
                            model: LlamaSupport.modelName, content: Self.prompt, stream: stream, maxTokens: 2,
                            extra: ["stream_options": ["include_usage": true], "return_progress": true, "timings_per_token": true]),
                        apiKey: key)
                    #expect(answer.status == 200, "\(answer.body)")
                    for field in Self.cacheFields { #expect(!answer.body.contains(field), "\(field) reached a client") }
                    requestIDs.append(try #require(answer.headers["x-request-id"]))
                }
                try await send(fleet.apiKey, stream: false)
                try await send(fleet.apiKey, stream: false)
                try await send(tenantB, stream: true)
                try await send(tenantB, stream: false)
                try await send(fleet.apiKey, stream: true)
                let hits = recorder.hits
                #expect(hits.count == 5, "\(hits)")
                guard hits.count == 5 else { return }
                #expect(hits[0] == 0, "tenant A's first request is uncached: \(hits)")
                #expect(hits[1] > 0, "tenant A's repeat hits its own cache: \(hits)")
                #expect(hits[2] == 0, "tenant B never hits tenant A's cache: \(hits)")
                #expect(hits[3] > 0 && hits[4] > 0, "each tenant's repeat hits its own: \(hits)")
                // The operator's record keeps what the client never sees: each request's cached prompt tokens.
                try await fleet.gateway.ledger.flush()
                var recorded: [Int?] = []
                for id in requestIDs { recorded.append(try await fleet.gateway.store.usage(requestID: id).first?.cachedPromptTokens) }
                #expect(recorded == hits.map { Optional($0) }, "usage rows \(recorded), engine \(hits)")
                #expect(
                    String(decoding: fleet.gateway.metrics.render(), as: UTF8.self).contains(
                        "hearth_tokens_total{kind=\"cached_prompt\"} \(hits.reduce(0, +))"))
            }
        }
    }

    @Test("one tenant's two documents keep their slots: each next question reads only the question, not its document again")
    func questionsOverTwoDocumentsHitTheirOwnSlots() async throws {
        try await LlamaSupport.withClient { client in
            let (spec, engine) = try LlamaSupport.node(id: "llama", slots: 3, client: client)
            let recorder = CacheHitRecorder(inner: engine)
            var node = spec
            node.engine = recorder
            try await withTestFleet(nodes: [node]) { fleet in
                let documents = [
                    "tenant:a " + String(repeating: "The boiler at Elm Street is serviced each May by Hartley & Sons. ", count: 6),
                    "tenant:a " + String(repeating: "Clause four: the tenant pays the water rates every quarter. ", count: 6),
                ]
                for (document, question) in [(0, "Who?"), (1, "Who pays?"), (0, "When?"), (1, "How often?")] {
                    let answer = try await fleet.post(
                        json: chatBody(model: LlamaSupport.modelName, content: documents[document] + "\n\n" + question, maxTokens: 2))
                    #expect(answer.status == 200, "\(answer.body)")
                }
                let hits = recorder.hits
                #expect(hits.count == 4, "\(hits)")
                guard hits.count == 4 else { return }
                #expect(hits[0] == 0 && hits[1] == 0, "first questions read their documents: \(hits)")
                // Each document is about 100 tokens: the next question over it finds them cached in its own slot,
                // although the other document's question ran in between.
                #expect(hits[2] >= 80 && hits[3] >= 80, "\(hits)")
            }
        }
    }
}

/// Wraps an engine and reads, from its raw answers (before the node redacts them), how many prompt tokens it found
/// cached for each request: llama.cpp's `timings.cache_n`, else `usage.prompt_tokens_details.cached_tokens`.
final class CacheHitRecorder: Engine {
    let inner: any Engine
    private let recorded = Mutex<[Int]>([])

    init(inner: any Engine) { self.inner = inner }

    var kind: String { inner.kind }
    var slots: Int { inner.slots }
    var hits: [Int] { recorded.withLock { $0 } }
    func models() async throws -> [ServedModel] { try await inner.models() }
    func isHealthy() async -> Bool { await inner.isHealthy() }
    func calibrate(_ model: ServedModel) async -> NodeProfile? { await inner.calibrate(model) }
    func probeCacheSalt(model: ServedModel) async -> CacheSaltProbeResult? { await inner.probeCacheSalt(model: model) }

    func run(_ request: EngineRequest, onHead: (StreamHead) async throws -> Void, onData: (ByteBuffer) async throws -> Void) async throws {
        var answer = ""
        try await inner.run(request, onHead: onHead) { chunk in
            answer += String(buffer: chunk)
            try await onData(chunk)
        }
        // Calibration requests carry no prompt marker; only the test's are counted.
        guard String(buffer: request.body).contains("tenant:a") else { return }
        let counted = Self.last(#""cache_n":"#, in: answer) ?? Self.last(#""cached_tokens":"#, in: answer)
        recorded.withLock { $0.append(counted ?? -1) }
    }

    private static func last(_ key: String, in text: String) -> Int? {
        guard let range = text.range(of: key, options: .backwards) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }
}
