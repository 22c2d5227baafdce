import HearthCore
import HearthGateway
import HearthProtocol
import Logging
import Testing

/// The power exchange on a real PostgreSQL (issue 14): rows carry the database's clock, and a reader that asks for
/// what was written since its last read gets those rows and no others, so replicas' traffic follows what changes.
@Suite struct PowerExchangeTests {
    static func report(draw: Double) -> NodePowerReport {
        NodePowerReport(
            mode: "normal", budgetWatts: nil, drawWatts: draw, capWatts: 4_000, capFraction: 1, homeLoadWatts: nil,
            homeBudgetWatts: nil, fullWatts: 7_000, floorWatts: 900)
    }

    @Test(.timeLimit(.minutes(1)))
    func readersGetWhatWasWrittenSinceTheirLastReadOnTheDatabasesClock() async throws {
        var logger = Logger(label: "hearth.test.store")
        logger.logLevel = .critical
        try await TestPostgres.with { address in
            try await PostgresFleetStore.withStore(address, logger: logger) { store in
                let exchange = store.powerExchange
                try await exchange.publish(reports: [
                    (key: NodeID("a"), value: Self.report(draw: 1_000)), (key: NodeID("b"), value: Self.report(draw: 2_000)),
                ])
                let held = try await exchange.coordinate { session in
                    let first = try await session.reports(since: nil, lifetime: 60)
                    #expect(Set(first.rows.map(\.key)) == [NodeID("a"), NodeID("b")])
                    #expect(first.rows.allSatisfy { $0.at <= first.clock }, "stamped with the database's clock")

                    // Nothing written since: a read from the clock on finds nothing, but the clock still comes back.
                    let none = try await session.reports(since: first.clock + 0.001, lifetime: 60)
                    #expect(none.rows.isEmpty)
                    #expect(none.clock >= first.clock)

                    try await exchange.publish(reports: [(key: NodeID("b"), value: Self.report(draw: 3_000))])
                    let changed = try await session.reports(since: none.clock, lifetime: 60)
                    #expect(changed.rows.map(\.key) == [NodeID("b")])
                    #expect(changed.rows.first?.value.drawWatts == 3_000)

                    try await session.publish(limits: [
                        (key: NodeID("a"), value: PowerLimit(transformerBudgetWatts: 5_000, gridCapWatts: nil))
                    ])
                }
                #expect(held, "the only replica takes the lease")

                let all = try await exchange.limits(for: [NodeID("a"), NodeID("b")], since: nil)
                #expect(all.rows.map(\.key) == [NodeID("a")])
                #expect(all.rows.first?.value.transformerBudgetWatts == 5_000)
                let later = try await exchange.limits(for: [NodeID("a")], since: all.clock + 0.001)
                #expect(later.rows.isEmpty && later.clock >= all.clock)
                let otherNode = try await exchange.limits(for: [NodeID("b")], since: nil)
                #expect(otherNode.rows.isEmpty, "only the nodes asked for")
            }
        }
    }
}
