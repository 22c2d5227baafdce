import Foundation
import HearthCore
import HearthGateway
import HearthNode
import Logging
import Testing

/// Issue 14: gateway replicas on one PostgreSQL store decide power as one. Each publishes its nodes' reports, one
/// coordinator shares every transformer over the whole fleet, and when it goes another replica takes over.
@Suite struct PowerAcrossReplicasTests {
    static func configure(_ configuration: inout GatewayConfiguration) {
        configuration.power.transformers = [TransformerAllocator.Transformer(id: "t1", ratingKVA: 25)]
        configuration.power.sites = [
            NodeID("node-0"): .init(homeID: "home-0", transformerID: "t1"),
            NodeID("node-1"): .init(homeID: "home-1", transformerID: "t1"),
        ]
        configuration.power.period = .milliseconds(100)
    }

    static func engine() -> TestEngine {
        TestEngine { request, _, emit in for chunk in TestEngine.sse(words: ["ok"], request: request) { try await emit(chunk) } }
    }

    @Test(.timeLimit(.minutes(2)))
    func twoReplicasShareOneTransformerAndTheSurvivorTakesOver() async throws {
        // Two 7 kW nodes in homes drawing 5 kW each on a 25 kVA transformer (20.25 kW usable), each node on its own
        // replica. Alone, each replica would see 12 kW on the transformer and cap nothing: 24 kW together.
        let nodes = (0..<2).map { _ in PoweredNode.make(homeLoadWatts: 5_000) }
        var logger = Logger(label: "hearth.test.store")
        logger.logLevel = .critical
        try await TestPostgres.with { address in
            try await PostgresFleetStore.withStore(address, logger: logger) { store in
                let first = [TestNodeSpec(id: "node-0", engine: Self.engine(), power: nodes[0].controller)]
                let second = [TestNodeSpec(id: "node-1", engine: Self.engine(), power: nodes[1].controller)]
                try await withTestFleet(nodes: first, configure: Self.configure, store: store) { one in
                    try await withTestFleet(nodes: second, configure: Self.configure, store: store) { other in
                        var budgets: [String: Double] = [:]
                        let reportsOne = one.gateway.registry.powerReports()
                        for await (node, report) in reportsOne where report.mode == "capped" {
                            budgets[node.rawValue] = report.budgetWatts
                            break
                        }
                        for await (node, report) in other.gateway.registry.powerReports() where report.mode == "capped" {
                            budgets[node.rawValue] = report.budgetWatts
                            break
                        }
                        let limit = 25_000 * 0.9 * 0.9
                        let total = nodes.map(\.homeLoadWatts).reduce(0, +) + budgets.values.reduce(0, +)
                        #expect(total <= limit + 1, "the transformer was handed out twice: \(budgets)")
                        let shares = budgets.values.sorted()
                        try #require(shares.count == 2)
                        #expect(abs(shares[0] - shares[1]) < 50, "unequal shares \(shares)")
                        #expect(one.gateway.power.isCoordinating != other.gateway.power.isCoordinating, "exactly one coordinator")

                        // The first replica goes, and its node with it: the other replica coordinates now (if it did
                        // not already), finds node-0 gone from the fleet, and lifts node-1's cap.
                        await one.shutDown()
                        for await (node, report) in other.gateway.registry.powerReports()
                        where node == NodeID("node-1") && report.mode != "capped" {
                            break
                        }
                        #expect(other.gateway.power.isCoordinating)
                    }
                }
            }
        }
    }
}
