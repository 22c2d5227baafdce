import Foundation
import HearthCore
import HearthGateway
import Testing

/// What a hostile client can make the gateway do before it is admitted, and what it can make it store.
@Suite struct ClientInputHygieneTests {
    @Test("a tenant at its concurrency limit is refused before its body is read or parsed")
    func concurrencyIsCheckedBeforeTheBody() async throws {
        let watcher = BatchWatcher(isolated: [])
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: TestEngine(slots: 8, behaviour: watcher.behaviour))]) { fleet in
            let key = try await fleet.gateway.createAPIKey(for: TenantPolicy(tenant: "one", maxConcurrent: 1))
            try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask { try await fleet.post(json: TenantTests.body("one"), apiKey: key).status }
                await watcher.waitForStarts(1)
                // Not JSON at all: parsed first, this was a 400; the limit answers before any parsing.
                let garbage = try await fleet.post("/v1/chat/completions", body: Data("{not json".utf8), apiKey: key)
                #expect(garbage.status == 429, "\(garbage.body)")
                watcher.gate("one").open()
                for try await status in group { #expect(status == 200) }
            }
            // With its slot free again, the same garbage is the client's mistake: 400.
            let garbage = try await fleet.post("/v1/chat/completions", body: Data("{not json".utf8), apiKey: key)
            #expect(garbage.status == 400)
            #expect(try await fleet.post(json: TenantTests.body("one"), apiKey: key).status == 200)
        }
    }

    @Test("an unknown model named by a megabyte string is not stored or echoed whole")
    func hugeModelNamesAreCut() async throws {
        try await withTestFleet(nodes: [TestNodeSpec(id: "n", engine: TenantTests.answering())]) { fleet in
            let model = String(repeating: "m", count: 1 << 20)
            let response = try await fleet.post(json: chatBody(model: model))
            #expect(response.status == 404)
            #expect(response.body.utf8.count < 4_096)
            let id = try #require(response.headers.first { $0.key.lowercased() == "x-request-id" }?.value)
            try await fleet.gateway.ledger.flush()
            let row = try #require(try await fleet.gateway.store.usage(requestID: id).first)
            #expect(row.model.utf8.count <= 256)
            #expect(row.httpStatus == 404)
        }
    }
}
