import Foundation
import HearthCore
import HearthGateway
import HearthNode
import HearthProtocol
import NIOCore
import Testing

/// A curious tenant probing another's prompt through a shared prompt cache (the leak class of CVE-2025-46570):
/// tenant B sends tenant A's exact prompt and must learn nothing, neither from a cache hit nor from a cache field.
@Suite struct CrossTenantCacheTests {
    static let prompt = "tenant:a The quarterly figures for the Hartley account are"
    static let cacheFields = ["cached_tokens", "prompt_tokens_details", "timings", "prompt_progress", "cache_n"]

    func send(_ fleet: TestFleet, key: String?, stream: Bool) async throws -> CollectedResponse {
        let answer = try await fleet.post(
            json: chatBody(model: "test-model", content: Self.prompt, stream: stream, extra: ["stream_options": ["include_usage": true]]),
            apiKey: key ?? fleet.apiKey)
        #expect(answer.status == 200, "\(answer.body)")
        for field in Self.cacheFields { #expect(!answer.body.contains(field), "\(field) reached a client: \(answer.body)") }
        return answer
    }

    /// Before: an `openai` engine kind was assumed to honour `cache_salt`, so an engine that ignores it (a
    /// llama-server behind `--engine openai`) served tenant B from tenant A's cache.
    @Test func anEngineKindIsNoProofOfSaltingAndSuchAnEngineSharesNothing() async throws {
        let engine = PrefixCacheEngine(honoursSalt: false)
        try await withTestFleet(nodes: [TestNodeSpec(id: "openai-front", engine: engine)]) { fleet in
            let tenantB = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "tenant-b"))
            for stream in [false, true] {
                _ = try await send(fleet, key: nil, stream: stream)
                _ = try await send(fleet, key: tenantB, stream: stream)
            }
            let served = engine.served
            #expect(served.count == 4)
            #expect(served.allSatisfy { $0.cachedTokens == 0 }, "a cache hit across tenants: \(served.map(\.cachedTokens))")
            #expect(served.allSatisfy { $0.body["cache_prompt"] == "0" || $0.body["cache_prompt"] == "false" })
            // A fresh salt per request: no two requests share a partition even on an engine that honours salts unseen.
            #expect(Set(served.compactMap { $0.body["cache_salt"] }).count == 4)
        }
    }

    /// An engine that showed at join that it keeps salts apart gets the tenant's salt: tenant A's repeat hits its own
    /// cache (so the cache still works), tenant B's request for the same prompt does not, and no client sees a count.
    @Test func anEngineThatShowedSaltsWorkKeepsEachTenantsCacheToItself() async throws {
        let engine = PrefixCacheEngine(honoursSalt: true)
        try await withTestFleet(nodes: [TestNodeSpec(id: "vllm", engine: engine)]) { fleet in
            let tenantB = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "tenant-b"))
            for stream in [false, true] {
                _ = try await send(fleet, key: nil, stream: stream)
            }
            _ = try await send(fleet, key: tenantB, stream: false)
            _ = try await send(fleet, key: tenantB, stream: true)
            let hits = engine.served.map(\.cachedTokens)
            #expect(hits.count == 4)
            #expect(hits[0] == 0 && hits[1] > 0, "tenant A's repeat hits its own cache: \(hits)")
            #expect(hits[2] == 0, "tenant B never hits tenant A's cache: \(hits)")
            #expect(hits[3] > 0, "tenant B's own repeat does: \(hits)")
            let salts = engine.served.map { $0.body["cache_salt"] }
            #expect(salts[0] == salts[1] && salts[0] != salts[2])
        }
    }

    @Test func theProbeTellsHonouringIgnoringAndSilentEnginesApart() async throws {
        let model = ServedModel(id: "test-model", contextTokens: 32_768)
        #expect(await CacheSaltProbe.run(on: PrefixCacheEngine(honoursSalt: true), model: model) == .honoured)
        #expect(await CacheSaltProbe.run(on: PrefixCacheEngine(honoursSalt: false), model: model) == .ignored)
        let silent = TestEngine { _, _, emit in
            for chunk in TestEngine.json(text: "ok") { try await emit(chunk) }
        }
        #expect(await CacheSaltProbe.run(on: silent, model: model) == .unmeasurable)
        let failing = TestEngine(headStatus: 500) { _, _, emit in try await emit(ByteBuffer(string: "{}")) }
        #expect(await CacheSaltProbe.run(on: failing, model: model) == .unmeasurable)
    }

    @Test func theGatewayTrustsTheProbeNotTheKind() throws {
        let hardware = HardwareSummary(cpuCores: 1, memoryBytes: 1, gpus: [])
        func hello(_ kind: String, _ probe: CacheSaltProbeResult?) -> NodeHello {
            NodeHello(
                nodeID: NodeID("n"), models: [], engineKind: kind, hardware: hardware, slots: 1, cacheSaltProbe: probe)
        }
        let configuration = GatewayConfiguration()
        for kind in ["openai", "vllm", "sglang", "llama"] {
            #expect(!configuration.engineHonoursCacheSalt(hello(kind, nil)), "\(kind) assumed to salt")
            #expect(!configuration.engineHonoursCacheSalt(hello(kind, .ignored)))
            #expect(!configuration.engineHonoursCacheSalt(hello(kind, .unmeasurable)))
        }
        #expect(configuration.engineHonoursCacheSalt(hello("openai", .honoured)))
        var vouched = configuration
        vouched.saltingEngineKinds = ["vllm"]
        #expect(vouched.engineHonoursCacheSalt(hello("vllm", .unmeasurable)))
        // An older node's hello (no probe field) still decodes, as untested.
        let old =
            #"{"protocol_version":1,"node_id":"n","models":[],"engine_kind":"openai","hardware":{"cpu_cores":1,"memory_bytes":1,"gpus":[]},"slots":1}"#
        #expect(try JSONDecoder().decode(NodeHello.self, from: Data(old.utf8)).cacheSaltProbe == nil)
        let unknown = old.replacingOccurrences(of: #""slots":1"#, with: #""slots":1,"cache_salt_probe":"maybe""#)
        #expect(!(try JSONDecoder().decode(NodeHello.self, from: Data(unknown.utf8)).engineHonoursCacheSalt))
    }
}
