import Foundation
import HearthCore
import HearthGateway
import HearthProtocol
import HearthTunnel
import NIOCore
import Synchronization
import Testing

/// The adversarial suite: an enrolled node that answers requests with frames that parse but lie (impossible
/// statuses and token counts, events without end, random hostile values). Properties: the gateway never crashes or
/// hangs, another tenant's stream on an honest node completes intact, every usage row stays inside the bounds its
/// request sets (``AnswerAudit``), no tenant is pushed into 429 by forged counts, and the liar loses its standing.
@Suite struct LyingNodeTests {
    typealias Generator = GatewayFuzzTests.Generator
    static let liarModel = "liar-model"
    static let maxTokens = 16
    static let eventLimit = 8 << 10

    /// A lie the suite tells by name, and what the client must get for it.
    struct Lie: Sendable, CustomTestStringConvertible {
        var name: String
        var stream = true
        var statuses: Set<Int>
        var frames: @Sendable (UInt32) -> [TunnelFrame]
        var testDescription: String { name }
    }

    static func events(_ stream: UInt32, _ count: Int) -> [TunnelFrame] { (0..<count).map { LyingNode.event(stream, "w\($0) ") } }

    static let catalogue: [Lie] = [
        Lie(name: "negative prompt tokens", statuses: [200]) { s in
            [LyingNode.head(s)] + events(s, 3) + [LyingNode.done(s), LyingNode.end(s, prompt: -1, completion: 5)]
        },
        Lie(name: "Int.max token counts", statuses: [200]) { s in
            [LyingNode.head(s)] + events(s, 3) + [LyingNode.done(s), LyingNode.end(s, prompt: Int.max, completion: Int.max)]
        },
        Lie(name: "Int.min token counts", statuses: [200]) { s in
            [LyingNode.head(s)] + events(s, 3) + [LyingNode.done(s), LyingNode.end(s, prompt: Int.min, completion: Int.min)]
        },
        Lie(name: "completion under what was relayed", statuses: [200]) { s in
            [LyingNode.head(s)] + events(s, 10) + [LyingNode.done(s), LyingNode.end(s, prompt: 20, completion: 0)]
        },
        Lie(name: "JSON answer with Int.max usage", stream: false, statuses: [200]) { s in
            [
                LyingNode.head(s, contentType: "application/json"), LyingNode.answer(s, "fine"),
                LyingNode.end(s, prompt: Int.max, completion: Int.max),
            ]
        },
        Lie(name: "head status 1000", statuses: [502]) { s in [LyingNode.head(s, status: 1000)] },
        Lie(name: "head status -1", statuses: [502]) { s in [LyingNode.head(s, status: -1)] },
        Lie(name: "head status 101", statuses: [502]) { s in [LyingNode.head(s, status: 101)] },
        Lie(name: "head status Int.max", statuses: [502]) { s in [LyingNode.head(s, status: Int.max)] },
        Lie(name: "header injection in the content type", statuses: [502]) { s in
            [LyingNode.head(s, contentType: "text/event-stream\r\nSet-Cookie: stolen=1")]
        },
        Lie(name: "an event that never ends", statuses: [200]) { s in
            [LyingNode.head(s)] + events(s, 2)
                + (0..<40).map { _ in TunnelFrame(kind: .data, stream: s, payload: ByteBuffer(repeating: UInt8(ascii: "x"), count: 1024)) }
        },
    ]

    static func configure(_ configuration: inout GatewayConfiguration) {
        configuration.maximumEventBytes = eventLimit
        configuration.nodeConduct = NodeConduct(threshold: .max)
        configuration.firstByteTimeout = .seconds(10)
    }

    /// The usage row of `response`'s request, after the ledger wrote it.
    static func usageRow(_ response: CollectedResponse, fleet: TestFleet) async throws -> UsageRecord? {
        let id = response.headers.first { $0.key.lowercased() == "x-request-id" }?.value ?? ""
        try await fleet.gateway.ledger.flush()
        return try await fleet.gateway.store.usage(requestID: id).first
    }

    static func bodyData(_ body: [String: Any]) -> Data { (try? JSONSerialization.data(withJSONObject: body)) ?? Data() }
    static func bytes(_ body: [String: Any]) -> Int { bodyData(body).count }

    /// Content events the client got: the floor of any honest bill.
    static func contentEvents(_ response: CollectedResponse) -> Int {
        response.events.filter { payload in
            guard let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
                let choice = (object["choices"] as? [[String: Any]])?.first
            else { return false }
            let text =
                (choice["delta"] as? [String: Any])?["content"] as? String ?? (choice["message"] as? [String: Any])?["content"] as? String
            return !(text ?? "").isEmpty
        }.count
    }

    /// Checks the bill of one request against the bounds its own body sets.
    static func checkBill(_ row: UsageRecord?, bodyBytes: Int, response: CollectedResponse, label: String) {
        guard let row else {
            Issue.record("\(label): no usage row")
            return
        }
        #expect((0...(bodyBytes + AnswerAudit.templateTokensFixed)).contains(row.promptTokens), "\(label): prompt \(row.promptTokens)")
        #expect((0...maxTokens).contains(row.completionTokens), "\(label): completion \(row.completionTokens)")
        if response.status == 200 {
            let relayed = min(contentEvents(response), maxTokens)
            #expect(row.completionTokens >= relayed, "\(label): billed \(row.completionTokens) < relayed \(relayed)")
        }
    }

    @Test("each catalogued lie costs the liar its stream, never the gateway or the bill", arguments: catalogue)
    func catalogueOfLies(_ lie: Lie) async throws {
        try await withTestFleet(nodes: [], configure: Self.configure) { fleet in
            let liar = try #require(try await LyingNode.join(port: fleet.addresses.tunnelPort, id: "liar", model: Self.liarModel))
            let serving = liar.serve { lie.frames($0.stream) }
            defer { serving.cancel() }
            let body = chatBody(model: Self.liarModel, stream: lie.stream, maxTokens: Self.maxTokens)
            let response = try await fleet.post(json: body)
            #expect(lie.statuses.contains(response.status), "\(lie.name): \(response.status) \(response.body.prefix(300))")
            #expect(!response.body.contains("stolen") && response.headers["Set-Cookie"] == nil)
            Self.checkBill(
                try await Self.usageRow(response, fleet: fleet), bodyBytes: Self.bytes(body), response: response, label: lie.name)
            let metrics = String(decoding: fleet.gateway.metrics.render(), as: UTF8.self)
            #expect(metrics.contains("hearth_node_lies_total"), "\(lie.name): no lie was counted")
        }
    }

    @Test("a node that lies three times is quarantined for misbehaviour and gets no more work")
    func lyingPastTheThresholdCostsStanding() async throws {
        try await withTestFleet(nodes: [], configure: { $0.nodeConduct = NodeConduct(threshold: 3, windowSeconds: 600) }) { fleet in
            let liar = try #require(try await LyingNode.join(port: fleet.addresses.tunnelPort, id: "liar", model: Self.liarModel))
            let serving = liar.serve { [LyingNode.head($0.stream, status: 1000)] }
            defer { serving.cancel() }
            for _ in 0..<3 {
                #expect(try await fleet.post(json: chatBody(model: Self.liarModel)).status == 502)
            }
            #expect(!fleet.gateway.registry.scheduler.isAdmitting(liar.id))
            let refused = try await fleet.post(json: chatBody(model: Self.liarModel))
            #expect(refused.status == 503, "\(refused.body)")
        }
    }

    /// Seeded random lies: valid frames with hostile values. `HEARTH_LIE_REQUESTS` sets the count (the benchmark
    /// run uses enough for 10^6 frames), `HEARTH_FUZZ_SEED` the seed; CI runs 200 requests.
    @Test func randomLiesNeverCrashHangOrMoveABillPastItsBounds() async throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = UInt64(environment["HEARTH_FUZZ_SEED"] ?? "") ?? 0x4C49_4152_5321
        let requests = Int(environment["HEARTH_LIE_REQUESTS"] ?? "") ?? 200
        let engine = TestEngine { request, _, emit in
            for chunk in TestEngine.sse(words: ["honest", " answer"], request: request) { try await emit(chunk) }
        }
        try await withTestFleet(nodes: [TestNodeSpec(id: "honest", engine: engine)], configure: Self.configure) { fleet in
            // Another tenant streams from the honest node beside every batch of lies, start to end.
            let other = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "tenant-b", dataClass: .standard))
            let otherBody = Self.bodyData(chatBody(model: "test-model", content: NodeProtocolFuzzTests.canary, stream: true))
            // Tenant A's token budget: forged counts that got through would push it into 429 within a few requests.
            let tenantA = try await fleet.gateway.createAPIKey(
                for: TenantPolicy(tenant: "tenant-liar-victim", dataClass: .standard, tokensPerMinute: 2_000_000))
            let liar = try #require(try await LyingNode.join(port: fleet.addresses.tunnelPort, id: "liar", model: Self.liarModel))
            let seeds = Mutex(Generator(state: seed))
            let serving = liar.serve { opened in
                seeds.withLock { Self.randomLie(opened, rng: &$0) }
            }
            let residentBefore = ResidentMemory.current()
            let started = ContinuousClock.now
            var statuses: [Int: Int] = [:]
            var index = 0
            while index < requests {
                let batch = min(8, requests - index)
                let results = try await withThrowingTaskGroup(of: (CollectedResponse, Int).self) { group in
                    group.addTask { (try await fleet.post("/v1/chat/completions", body: otherBody, apiKey: other), -1) }
                    for offset in 0..<batch {
                        let body = Self.bodyData(
                            chatBody(
                                model: Self.liarModel, content: "q\(index + offset)", stream: (index + offset) % 3 != 0,
                                maxTokens: Self.maxTokens))
                        group.addTask { (try await fleet.post("/v1/chat/completions", body: body, apiKey: tenantA), body.count) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for (response, bodyBytes) in results {
                    guard bodyBytes >= 0 else {
                        #expect(
                            response.status == 200 && response.streamedText == "honest answer", "seed \(seed): \(response.body.prefix(300))"
                        )
                        #expect(!response.body.contains("w0 "))
                        continue
                    }
                    statuses[response.status, default: 0] += 1
                    // The liar's own relayable statuses (2xx, 4xx, 5xx), or the gateway's 502/504 for a node that failed;
                    // never the tenant's 429 (the liar is never given 429 to relay).
                    #expect(
                        AnswerAudit.isRelayableStatus(response.status) && response.status != 429,
                        "seed \(seed): \(response.status) \(response.body.prefix(200))")
                    Self.checkBill(
                        try await Self.usageRow(response, fleet: fleet), bodyBytes: bodyBytes, response: response, label: "seed \(seed)")
                }
                index += batch
            }
            let elapsed = ContinuousClock.now - started
            serving.cancel()
            let frames = await serving.value
            #expect(statuses[429] == nil)
            print(
                "lying-node barrage: seed \(seed), \(requests) requests, \(frames) liar frames in \(elapsed), statuses \(statuses.sorted { $0.key < $1.key }), gateway process RSS \(residentBefore / 1_048_576) -> \(ResidentMemory.current() / 1_048_576) MiB"
            )
        }
    }

    /// One random answer: a head (mostly valid), events, maybe a flood without boundary, an end with hostile counts.
    static func randomLie(_ opened: LyingNode.Opened, rng: inout Generator) -> [TunnelFrame] {
        let s = opened.stream
        let hostileCounts: [Int?] = [nil, -1, 0, 1, 7, Int.max, Int.min, 1 << 40, 1 << 62, Int.random(in: 0...1_000_000, using: &rng)]
        // Never 429: a relayed 429 would read as the tenant's own limit, which forged counts must never reach.
        let anyStatus = Int.random(in: -100_000...100_000, using: &rng)
        let statuses = [200, 200, 200, 200, 400, 500, 503, -1, 0, 101, 204, 302, 600, 1000, Int.max, anyStatus == 429 ? 200 : anyStatus]
        let contentTypes =
            opened.wantsStream
            ? ["text/event-stream", "text/event-stream; charset=utf-8", "text/html", "\u{7F}"] : ["application/json", "text/plain"]
        var frames = [
            LyingNode.head(s, status: statuses.randomElement(using: &rng)!, contentType: contentTypes.randomElement(using: &rng)!)
        ]
        if opened.wantsStream {
            frames += events(s, Int.random(in: 0...40, using: &rng))
            if Int.random(in: 0..<8, using: &rng) == 0 {
                frames += (0..<Int.random(in: 1...20, using: &rng)).map { _ in
                    TunnelFrame(kind: .data, stream: s, payload: ByteBuffer(repeating: UInt8(ascii: "y"), count: 1024))
                }
            }
            if Bool.random(using: &rng) { frames.append(LyingNode.done(s)) }
        } else {
            frames.append(LyingNode.answer(s, Bool.random(using: &rng) ? "text" : ""))
        }
        switch Int.random(in: 0..<6, using: &rng) {
        case 0:
            // A random well-formed end whose fields are random JSON values.
            let end = LyingNode.end(s, prompt: 1, completion: 1)
            frames.append(TunnelFrame(kind: .end, stream: s, payload: NodeProtocolFuzzTests.wrongTypes(end.payload, rng: &rng)))
        default:
            let ttft: [Double?] = [nil, -1, 0, 1e-9, 1e300, Double(Int.random(in: 0...10_000, using: &rng))]
            frames.append(
                LyingNode.end(
                    s, prompt: hostileCounts.randomElement(using: &rng)!, completion: hostileCounts.randomElement(using: &rng)!,
                    ttftMilliseconds: ttft.randomElement(using: &rng)!))
        }
        return frames
    }
}

/// This process's resident memory, from /proc (0 where there is none).
enum ResidentMemory {
    static func current() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }
}
