import Foundation
import HearthCore
import HearthGateway
import Testing

/// Issue 12's first promise on the gateway: a request that no node can serve within its class target is served best
/// effort (slots respected, a bounded wait, the miss stated), not refused; a client that asks for strict targets gets
/// the refusal.
@Suite struct BestEffortAdmissionE2ETests {
    /// 100 prompt tokens a second: a 5,000-character chat prompt (about 1,250 tokens) takes 12 s, far past the 1 s target.
    static func slowEngine(slots: Int = 2) -> TestEngine {
        TestEngine(slots: slots, prefillTokensPerSecond: 100) { request, gate, emit in
            if request.body.readableBytesView.contains(UInt8(ascii: "!")) { try await gate.wait() }
            for chunk in request.stream
                ? TestEngine.sse(words: ["slow", "but", "served"], request: request) : TestEngine.json(text: "served")
            {
                try await emit(chunk)
            }
        }
    }

    static let longPrompt = String(repeating: "word ", count: 1_000)

    @Test("a prompt too long for any node's target is served best effort; strict asks get 503; a bad policy is 400")
    func unreachableTargetIsServedBestEffort() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "slow", engine: Self.slowEngine())]) { fleet in
            let served = try await fleet.post(json: chatBody(model: "test-model", content: Self.longPrompt))
            #expect(served.status == 200, "\(served.body)")
            #expect(served.headers["x-hearth-slo"] == "best-effort")
            #expect(served.headers["x-hearth-decision"]?.hasPrefix("best effort") == true)

            let strict = try await fleet.post(
                json: chatBody(model: "test-model", content: Self.longPrompt), headers: [("X-Hearth-SLO-Policy", "strict")])
            #expect(strict.status == 503, "\(strict.body)")

            let wrong = try await fleet.post(json: chatBody(model: "test-model"), headers: [("X-Hearth-SLO-Policy", "maybe")])
            #expect(wrong.status == 400)
            #expect(wrong.error?["param"] as? String == "X-Hearth-SLO-Policy")

            let short = try await fleet.post(json: chatBody(model: "test-model"))
            #expect(short.headers["x-hearth-slo"] == "target")
            #expect(String(decoding: fleet.gateway.metrics.render(), as: UTF8.self).contains("hearth_best_effort_total{class=\"chat\"} 1"))
        }
    }

    @Test("concurrent best-effort streams take the node's slots in turn: none is refused")
    func concurrentStreamsWaitForSlotsInsteadOf429() async throws {
        let engine = Self.slowEngine(slots: 2)
        try await withTestFleet(nodes: [TestNodeSpec(id: "slow", engine: engine)]) { fleet in
            let requests = 6
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<requests {
                    group.addTask {
                        try await fleet.post(json: chatBody(model: "test-model", content: Self.longPrompt + "!", stream: true)).status
                    }
                }
                // Two hold the node's two slots; the other four wait for one, none is refused.
                var events = engine.events.makeAsyncIterator()
                for _ in 0..<2 { _ = await events.next() }
                await fleet.gateway.registry.scheduler.waitUntilQueued(requests - 2)
                engine.gate.open()
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: requests))
        }
    }
}
