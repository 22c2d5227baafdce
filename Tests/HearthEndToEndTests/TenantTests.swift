import Foundation
import HearthCore
import HearthGateway
import HearthNode
import NIOCore
import Testing

/// Tenants kept apart, end to end through a real gateway and real node agents: data classes enforced by
/// placement, batch isolation, prefix-cache salts, no cached-token counts, per-tenant limits, key revocation.
@Suite struct TenantTests {
    static func body(_ tenant: String, stream: Bool = false, maxTokens: Int = 16, extra: [String: Any] = [:]) -> [String: Any] {
        chatBody(model: "test-model", content: "tenant:\(tenant) hello", stream: stream, maxTokens: maxTokens, extra: extra)
    }

    static func answering() -> TestEngine {
        TestEngine { request, _, emit in
            for chunk in request.stream ? TestEngine.sse(words: ["a", "b"], request: request) : TestEngine.json(text: "ok") {
                try await emit(chunk)
            }
        }
    }

    // MARK: data classes

    @Test func aSensitiveTenantNeverSharesANodeBatchWithAnotherTenant() async throws {
        let watcher = BatchWatcher(isolated: ["sens"])
        let engine = TestEngine(slots: 8, behaviour: watcher.behaviour)
        try await withTestFleet(nodes: [TestNodeSpec(id: "only", engine: engine)]) { fleet in
            let sensitive = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "sens", dataClass: .sensitive))
            let other = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "other"))
            let scheduler = fleet.gateway.registry.scheduler
            try await withThrowingTaskGroup(of: (String, CollectedResponse).self) { group in
                // Two standard tenants share the node.
                group.addTask { ("std-a", try await fleet.post(json: Self.body("tenant-a"))) }
                group.addTask { ("std-o", try await fleet.post(json: Self.body("other"), apiKey: other)) }
                await watcher.waitForStarts(2)
                // The sensitive request waits: the node runs other tenants' work.
                group.addTask { ("sens-1", try await fleet.post(json: Self.body("sens"), apiKey: sensitive)) }
                await scheduler.waitUntilQueued(1)
                #expect(fleet.gateway.tenants(on: NodeID("only")) == ["tenant-a", "other"])
                #expect(watcher.started.count == 2)
                watcher.gate("tenant-a").open()
                watcher.gate("other").open()
                // Once they end it runs; now standard work waits for it, and the same tenant's may join it.
                await watcher.waitForStarts(3)
                #expect(fleet.gateway.tenants(on: NodeID("only")) == ["sens"])
                group.addTask { ("sens-2", try await fleet.post(json: Self.body("sens"), apiKey: sensitive)) }
                await watcher.waitForStarts(4)
                let queued = scheduler.queuedDecisions
                group.addTask { ("std-late", try await fleet.post(json: Self.body("other"), apiKey: other)) }
                await scheduler.waitUntilQueued(queued + 1)
                #expect(
                    watcher.started == ["tenant-a", "other", "sens", "sens"] || watcher.started == ["other", "tenant-a", "sens", "sens"])
                watcher.gate("sens").open()
                var statuses: [String: Int] = [:]
                for try await (name, response) in group { statuses[name] = response.status }
                #expect(statuses.values.allSatisfy { $0 == 200 }, "\(statuses)")
            }
            #expect(watcher.violations.isEmpty, "\(watcher.violations)")
            #expect(watcher.started.last == "other")
            #expect(fleet.gateway.tenants(on: NodeID("only")).isEmpty)
        }
    }

    @Test func aConfidentialRequestWithNoAttestedNodeIsRefused() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "home", engine: Self.answering())]) { fleet in
            let key = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "conf", dataClass: .confidential))
            let refused = try await fleet.post(json: Self.body("conf"), apiKey: key)
            #expect(refused.status == 503)
            #expect(refused.error?["message"] as? String == DataClassFilter(dataClass: .confidential).refusalMessage)
            #expect(refused.error?["code"] as? String == "data_class_unavailable")
            #expect(refused.error?["type"] as? String == "service_unavailable")
            // A claim of attestation that the gateway did not verify counts for nothing.
            fleet.gateway.updateNodeLabels(
                NodeID("home"),
                [SecurityLabels.attestation: SecurityLabels.confidentialComputing, SecurityLabels.site: SecurityLabels.dataCentre])
            #expect(try await fleet.post(json: Self.body("conf"), apiKey: key).status == 503)
            // Standard tenants are served by the same node.
            #expect(try await fleet.post(json: Self.body("tenant-a")).status == 200)
        }
        // Attested by the gateway's configuration (the stand-in for a verified TEE quote), or in a data centre: served.
        for configure in [
            { (c: inout GatewayConfiguration) in c.attestedNodes = [NodeID("home")] }, { c in c.dataCentreNodes = [NodeID("home")] },
        ] {
            try await withTestFleet(nodes: [TestNodeSpec(id: "home", engine: Self.answering())], configure: configure) { fleet in
                let key = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "conf", dataClass: .confidential))
                let served = try await fleet.post(json: Self.body("conf"), apiKey: key)
                #expect(served.status == 200)
                #expect(served.headers["x-hearth-node"] == "home")
            }
        }
    }

    @Test func sensitiveRequestsNeverLandOnARecentlyTamperedNode() async throws {
        let nodes = ["tampered", "clean"].map { TestNodeSpec(id: $0, engine: Self.answering()) }
        try await withTestFleet(nodes: nodes, configure: { $0.schedulingPolicy = .roundRobin }) { fleet in
            let key = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "sens", dataClass: .sensitive))
            fleet.gateway.updateNodeLabels(NodeID("tampered"), [SecurityLabels.lastTamperAt: String(fleet.gateway.schedulerNow)])
            for _ in 0..<6 {
                let answer = try await fleet.post(json: Self.body("sens"), apiKey: key)
                #expect(answer.status == 200)
                #expect(answer.headers["x-hearth-node"] == "clean")
            }
            var standardNodes: Set<String> = []
            for _ in 0..<4 { standardNodes.insert(try await fleet.post(json: Self.body("tenant-a")).headers["x-hearth-node"] ?? "") }
            #expect(standardNodes == ["tampered", "clean"], "standard tenants still use the tampered node")
            // Both tampered: refused with the data class's reason.
            fleet.gateway.updateNodeLabels(NodeID("clean"), [SecurityLabels.lastTamperAt: String(fleet.gateway.schedulerNow)])
            let refused = try await fleet.post(json: Self.body("sens"), apiKey: key)
            #expect(refused.status == 503)
            #expect(refused.error?["message"] as? String == DataClassFilter(dataClass: .sensitive).refusalMessage)
            // The tamper label outlives the node's connection.
            let events = fleet.gateway.registry.events()
            try await fleet.gateway.registry.session(NodeID("clean"))?.channel.close()
            for await event in events where event == .registered(NodeID("clean")) { break }
            #expect(fleet.gateway.registry.scheduler.labels(of: NodeID("clean"))?[SecurityLabels.lastTamperAt] != nil)
        }
    }

    // MARK: prefix-cache isolation

    @Test func theGatewaySetsTheCacheSaltPerPartitionOverwritingTheClients() async throws {
        let recorder = BodyRecorder()
        let engine = KindedEngine(
            kind: "openai",
            inner: TestEngine { request, _, emit in
                recorder.record(request)
                for chunk in TestEngine.json(text: "ok") { try await emit(chunk) }
            })
        // A scripted engine cannot show salts work at join (CrossTenantCacheTests covers that): the operator vouches.
        let vouched: (inout GatewayConfiguration) -> Void = { $0.saltingEngineKinds = ["openai"] }
        try await withTestFleet(nodes: [TestNodeSpec(id: "vllm", engine: engine)], configure: vouched) { fleet in
            let other = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "other"))
            let sensitive = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "sens", dataClass: .sensitive))
            let forged = ["cache_salt": "the-other-tenants-salt"]
            let same = "tenant:any What is in the report?"
            func send(_ key: String?, _ content: String, extra: [String: Any] = forged) async throws {
                let answer = try await fleet.post(
                    json: chatBody(model: "test-model", content: content, extra: extra), apiKey: key ?? fleet.apiKey)
                #expect(answer.status == 200)
            }
            try await send(nil, same)
            try await send(nil, same, extra: [:])
            try await send(other, same)
            try await send(sensitive, same)
            try await send(sensitive, same + " (another conversation)")
            let salts = recorder.all.map { $0["cache_salt"] as? String }
            #expect(salts.allSatisfy { $0 != nil && $0 != "the-other-tenants-salt" && $0!.count == 64 }, "\(salts)")
            #expect(salts[0] == salts[1], "one standard tenant: one partition")
            #expect(salts[0] != salts[2], "tenants never share a partition")
            #expect(Set(salts[2...]).count == 3, "sensitive: a partition per conversation")
            #expect(recorder.raw.allSatisfy { !$0.contains("the-other-tenants-salt") })
        }
    }

    @Test func anEngineWithoutASaltGetsNoPromptCacheReuse() async throws {
        let recorder = BodyRecorder()
        let engine = KindedEngine(
            kind: "llama",
            inner: TestEngine { request, _, emit in
                recorder.record(request)
                for chunk in TestEngine.json(text: "ok") { try await emit(chunk) }
            })
        try await withTestFleet(nodes: [TestNodeSpec(id: "llama", engine: engine)]) { fleet in
            let plain = try await fleet.post(json: Self.body("tenant-a", extra: ["cache_prompt": true]))
            let streamed = try await fleet.post(json: Self.body("tenant-a", stream: true))
            #expect(plain.status == 200 && streamed.status == 200)
            for body in recorder.all {
                #expect(body["cache_prompt"] as? Bool == false)
            }
            let salts = recorder.all.compactMap { $0["cache_salt"] as? String }
            #expect(Set(salts).count == 2, "a fresh salt per request, never the tenant's partition: \(salts)")
            #expect(recorder.all.count == 2)
        }
    }

    static let cacheDetails =
        #""usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":6}},"timings":{"cache_n":6,"prompt_n":1}"#

    @Test func cachedTokenCountsNeverReachClients() async throws {
        let engine = TestEngine { request, _, emit in
            if request.stream {
                try await emit(ContinuingAnswer.chunk("word0 "))
                try await emit(
                    ByteBuffer(string: #"data: {"object":"chat.completion.chunk","choices":[],"# + Self.cacheDetails + "}\n\n"))
                try await emit(ByteBuffer(string: "data: [DONE]\n\n"))
            } else {
                try await emit(
                    ByteBuffer(
                        string: #"{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}],"#
                            + Self.cacheDetails + "}"))
            }
        }
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: engine)]) { fleet in
            let plain = try await fleet.post(json: Self.body("tenant-a"))
            let streamed = try await fleet.post(
                json: Self.body("tenant-a", stream: true, extra: ["stream_options": ["include_usage": true]]))
            for answer in [plain, streamed] {
                #expect(answer.status == 200)
                #expect(!answer.body.contains("prompt_tokens_details") && !answer.body.contains("cached_tokens"), "\(answer.body)")
                #expect(!answer.body.contains("cache_n") && !answer.body.contains("timings"))
                #expect(answer.body.contains("\"completion_tokens\":2"), "usage itself still reaches the client")
            }
            #expect((plain.json?["usage"] as? [String: Any])?["prompt_tokens"] as? Int == 7)
            #expect(streamed.events.allSatisfy { $0 == "[DONE]" || (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil })
        }
    }

    @Test func cachedTokenCountsNeverReachClientsAfterAFailover() async throws {
        let stall = StallOnce()
        let engines = (0..<2).map { _ in
            TestEngine { request, gate, emit in
                let prefix = ContinuingAnswer.prefix(of: request)
                let stalls = prefix.isEmpty && stall.take()
                for (i, word) in ContinuingAnswer.remaining(after: prefix).enumerated() {
                    if stalls && i == 3 { try await gate.wait() }
                    try await emit(ContinuingAnswer.chunk(word))
                }
                try await emit(
                    ByteBuffer(string: #"data: {"object":"chat.completion.chunk","choices":[],"# + Self.cacheDetails + "}\n\n"))
                try await emit(ByteBuffer(string: "data: [DONE]\n\n"))
            }
        }
        try await withTestFleet(nodes: engines.enumerated().map { TestNodeSpec(id: "node-\($0.offset)", engine: $0.element) }) { fleet in
            let answer = try await fleet.streamAndInterrupt(
                json: chatBody(model: "test-model", stream: true, maxTokens: 64, extra: ["stream_options": ["include_usage": true]]),
                after: "word2"
            ) { node in
                try await fleet.gateway.registry.session(NodeID(node))?.channel.close()
            }
            #expect(answer.status == 200)
            #expect(answer.streamedText == ContinuingAnswer.text)
            #expect(
                !answer.body.contains("prompt_tokens_details") && !answer.body.contains("cached_tokens") && !answer.body.contains("cache_n")
            )
        }
    }

    // MARK: limits

    @Test func requestsPerMinuteAreLimitedWithRetryAfter() async throws {
        let clock = ManualClock()
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: Self.answering())], configure: { $0.tenantClock = clock }) { fleet in
            let key = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "rpm", requestsPerMinute: 2))
            #expect(try await fleet.post(json: Self.body("rpm"), apiKey: key).status == 200)
            clock.advance(by: .seconds(20))
            #expect(try await fleet.post(json: Self.body("rpm"), apiKey: key).status == 200)
            let limited = try await fleet.post(json: Self.body("rpm"), apiKey: key)
            #expect(limited.status == 429)
            #expect(limited.headers["retry-after"] == "40")
            #expect(limited.error?["code"] as? String == "rate_limit_exceeded")
            #expect(limited.error?["type"] as? String == "rate_limit_error")
            // Another tenant is not limited by it.
            #expect(try await fleet.post(json: Self.body("tenant-a")).status == 200)
            clock.advance(by: .seconds(40))
            #expect(try await fleet.post(json: Self.body("rpm"), apiKey: key).status == 200)
        }
    }

    @Test func everyAnswerCarriesOpenAIsRateLimitHeadersAndTheGatewaysOverhead() async throws {
        let clock = ManualClock()
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: Self.answering())], configure: { $0.tenantClock = clock }) { fleet in
            let key = try await fleet.gateway.createAPIKey(
                for: TenantPolicy(tenant: "headers", requestsPerMinute: 3, tokensPerMinute: 100_000))
            let first = try await fleet.post(json: Self.body("headers"), apiKey: key)
            #expect(first.status == 200)
            #expect(first.headers["x-ratelimit-limit-requests"] == "3")
            #expect(first.headers["x-ratelimit-remaining-requests"] == "2")
            #expect(first.headers["x-ratelimit-reset-requests"] == "1m0s")
            #expect(first.headers["x-ratelimit-limit-tokens"] == "100000")
            let remainingTokens = try #require(first.headers["x-ratelimit-remaining-tokens"].flatMap(Int.init))
            #expect(remainingTokens < 100_000 && remainingTokens > 90_000, "its reservation counts until it is corrected")
            clock.advance(by: .seconds(30))
            let streamed = try await fleet.post(json: Self.body("headers", stream: true), apiKey: key)
            #expect(streamed.headers["x-ratelimit-remaining-requests"] == "1")
            #expect(streamed.headers["x-ratelimit-reset-requests"] == "1m0s", "the newest request ages out last")
            _ = try await fleet.post(json: Self.body("headers"), apiKey: key)
            let limited = try await fleet.post(json: Self.body("headers"), apiKey: key)
            #expect(limited.status == 429)
            #expect(limited.headers["x-ratelimit-remaining-requests"] == "0")
            #expect(limited.headers["x-ratelimit-reset-requests"] == "1m0s")
            // The gateway's own time, in milliseconds, on JSON and SSE answers alike.
            for answer in [first, streamed] {
                let overhead = try #require(answer.headers["x-hearth-overhead-ms"].flatMap(Double.init))
                #expect(overhead >= 0 && overhead < 10_000)
            }
            // A tenant without per-minute limits gets no rate-limit headers.
            let open = try await fleet.post(json: Self.body("tenant-a"))
            #expect(open.headers["x-ratelimit-limit-requests"] == nil && open.headers["x-hearth-overhead-ms"] != nil)
        }
    }

    @Test func tokensPerMinuteAreReservedThenCorrected() async throws {
        let clock = ManualClock()
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: Self.answering())], configure: { $0.tenantClock = clock }) { fleet in
            let key = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "tpm", tokensPerMinute: 100))
            // Reserves ~4 prompt + 90: admitted; the engine reports 7 tokens used, which the charge becomes.
            #expect(try await fleet.post(json: Self.body("tpm", maxTokens: 90), apiKey: key).status == 200)
            #expect(try await fleet.post(json: Self.body("tpm", maxTokens: 85), apiKey: key).status == 200)
            // 7 + 7 used; 90 more does not fit.
            let limited = try await fleet.post(json: Self.body("tpm", maxTokens: 90), apiKey: key)
            #expect(limited.status == 429)
            #expect(limited.headers["retry-after"] == "60")
            #expect(limited.error?["code"] as? String == "rate_limit_exceeded")
            let tooLarge = try await fleet.post(json: Self.body("tpm", maxTokens: 500), apiKey: key)
            #expect(tooLarge.status == 429)
            #expect((tooLarge.error?["message"] as? String)?.contains("max_tokens") == true)
            clock.advance(by: .seconds(61))
            #expect(try await fleet.post(json: Self.body("tpm", maxTokens: 90), apiKey: key).status == 200)
        }
    }

    @Test func concurrentRequestsAreLimited() async throws {
        let watcher = BatchWatcher(isolated: [])
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: TestEngine(slots: 8, behaviour: watcher.behaviour))]) { fleet in
            let key = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "one", maxConcurrent: 1))
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await fleet.post(json: Self.body("one"), apiKey: key).status }
                await watcher.waitForStarts(1)
                let limited = try await fleet.post(json: Self.body("one"), apiKey: key)
                #expect(limited.status == 429)
                #expect(limited.headers["retry-after"] == "1")
                #expect(limited.error?["code"] as? String == "rate_limit_exceeded")
                watcher.gate("one").open()
                for try await status in group { #expect(status == 200) }
            }
            #expect(try await fleet.post(json: Self.body("one"), apiKey: key).status == 200)
        }
    }

    // MARK: keys

    @Test("a key revoked through the gateway is refused at once; one revoked from another process within apiKeyCacheSeconds")
    func aRevokedKeyIsRefusedAtOnceOrWithinTheCacheBound() async throws {
        let clock = ManualClock()
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: Self.answering())], configure: { $0.tenantClock = clock }) { fleet in
            let key = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "gone"))
            #expect(try await fleet.post(json: Self.body("gone"), apiKey: key).status == 200)
            let record = try #require(try await fleet.gateway.store.apiKeys().first { $0.tenant == "gone" })
            #expect(record.revokedAt == nil)
            // Revoked in the store directly, as `hearth keys revoke` does from another process: the key's policy
            // is served from memory until it is a second old (the default bound), then the store says no.
            #expect(try await fleet.gateway.store.revokeAPIKey(hash: record.keyHash, at: Date()))
            clock.advance(by: .milliseconds(900))
            #expect(try await fleet.post(json: Self.body("gone"), apiKey: key).status == 200, "within the stated bound")
            clock.advance(by: .milliseconds(100))
            let refused = try await fleet.post(json: Self.body("gone"), apiKey: key)
            #expect(refused.status == 401)
            #expect(refused.error?["code"] as? String == "invalid_api_key")
            #expect(!refused.body.contains(key))
            #expect(try await fleet.gateway.store.apiKeys().first { $0.tenant == "gone" }?.revokedAt != nil)
            #expect(try await fleet.post(json: Self.body("tenant-a")).status == 200)

            // Through the gateway: refused from the next request on, with no time passing.
            let second = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "gone-too"))
            #expect(try await fleet.post(json: Self.body("gone-too"), apiKey: second).status == 200)
            let secondHash = try #require(try await fleet.gateway.store.apiKeys().first { $0.tenant == "gone-too" }?.keyHash)
            #expect(try await fleet.gateway.revokeAPIKey(hash: secondHash))
            #expect(try await fleet.post(json: Self.body("gone-too"), apiKey: second).status == 401)
            // A key is never cached as unknown: one created by another process works from its first request.
            let outside = APIKeyAuthenticator.generateKey()
            try await fleet.gateway.store.addAPIKey(hash: APIKeyAuthenticator.hash(outside), tenant: "later", createdAt: Date())
            #expect(try await fleet.post(json: Self.body("later"), apiKey: outside).status == 200)
        }
    }
}
