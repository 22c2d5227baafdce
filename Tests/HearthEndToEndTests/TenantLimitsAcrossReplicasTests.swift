import Foundation
import HearthCore
import HearthGateway
import Logging
import Testing

/// Issue 14: gateway replicas on one PostgreSQL store hold a tenant's limits fleet-wide: each enforces its share, and
/// when a replica leaves the others take its share over.
@Suite struct TenantLimitsAcrossReplicasTests {
    @Test func eachReplicaEnforcesItsShareOfTheLimits() {
        let policy = TenantPolicy(tenant: "t", requestsPerMinute: 10, tokensPerMinute: 1_001, maxConcurrent: 1)
        #expect(policy.share(among: 1) == policy)
        let half = policy.share(among: 2)
        #expect(half.requestsPerMinute == 5 && half.tokensPerMinute == 501 && half.maxConcurrent == 1)
        let third = policy.share(among: 3)
        #expect(third.requestsPerMinute == 4, "rounded up: the fleet admits at most limit + replicas - 1")
        #expect(TenantPolicy(tenant: "free").share(among: 3) == TenantPolicy(tenant: "free"), "no limit, no share")
    }

    static func awaitReplicas(_ count: Int, on fleet: TestFleet) async {
        let changes = fleet.gateway.tenantLimiter.liveReplicaChanges()
        if fleet.gateway.tenantLimiter.liveReplicas == count { return }
        for await seen in changes where seen == count { return }
    }

    @Test(.timeLimit(.minutes(1)))
    func aTenantsRequestsPerMinuteHoldAcrossTwoReplicasAndTheSurvivorTakesTheWholeLimit() async throws {
        var logger = Logger(label: "hearth.test.store")
        logger.logLevel = .critical
        try await TestPostgres.with { address in
            try await PostgresFleetStore.withStore(address, logger: logger) { store in
                let first = [TestNodeSpec(id: "a1", engine: TenantTests.answering())]
                let second = [TestNodeSpec(id: "b1", engine: TenantTests.answering())]
                try await withTestFleet(nodes: first, store: store) { one in
                    try await withTestFleet(nodes: second, store: store) { other in
                        let key = try await one.gateway.createAPIKey(for: TenantPolicy(tenant: "shared", requestsPerMinute: 10))
                        await Self.awaitReplicas(2, on: one)
                        await Self.awaitReplicas(2, on: other)
                        var admitted = 0
                        for fleet in [one, other] {
                            var statuses: [Int] = []
                            for _ in 0..<8 { statuses.append(try await fleet.post(json: TenantTests.body("shared"), apiKey: key).status) }
                            #expect(statuses == [200, 200, 200, 200, 200, 429, 429, 429], "each replica admits its half")
                            admitted += statuses.count { $0 == 200 }
                        }
                        #expect(admitted == 10, "the fleet admitted the tenant's limit, not twice it")
                        let refused = try await one.post(json: TenantTests.body("shared"), apiKey: key)
                        #expect((refused.error?["message"] as? String)?.contains("10 requests per minute") == true)

                        // The second replica leaves (it withdraws as it drains): the first enforces the whole limit.
                        await other.shutDown()
                        await Self.awaitReplicas(1, on: one)
                        var after: [Int] = []
                        for _ in 0..<7 { after.append(try await one.post(json: TenantTests.body("shared"), apiKey: key).status) }
                        #expect(after == [200, 200, 200, 200, 200, 429, 429], "five more in this minute: ten in all here")
                    }
                }
            }
        }
    }
}
