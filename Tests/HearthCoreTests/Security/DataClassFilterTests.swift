import HearthCore
import Testing

@Suite struct DataClassFilterTests {
    static func fleet() -> FleetState {
        FleetState(nodes: [
            node("clean-home", labels: [SecurityLabels.trustState: "trusted"]),
            node("tampered", labels: [SecurityLabels.trustState: "trusted", SecurityLabels.lastTamperAt: "900"]),
            node("old-tamper", labels: [SecurityLabels.trustState: "trusted", SecurityLabels.lastTamperAt: "-1000000"]),
            node("attested", labels: [SecurityLabels.attestation: SecurityLabels.confidentialComputing]),
            node("datacentre", labels: [SecurityLabels.site: SecurityLabels.dataCentre]),
            node("quarantined", labels: [SecurityLabels.trustState: "quarantined", SecurityLabels.site: SecurityLabels.dataCentre]),
        ])
    }

    static func node(_ name: String, labels: [String: String]) -> NodeSnapshot {
        var snapshot = Fixtures.node(name)
        snapshot.labels = labels
        return snapshot
    }

    static func eligible(_ dataClass: DataClass, tenant: String = "t1", occupancy: TenantOccupancy = TenantOccupancy()) -> Set<String> {
        let fleet = fleet()
        let request = Fixtures.request(arrival: 1000)
        let filters = RequestSecurity(tenant: tenant, dataClass: dataClass, occupancy: occupancy, cleanWindowSeconds: 3600).filters
        return Set(
            (0..<fleet.count).filter { i in filters.allSatisfy { $0.admits(request, nodeAt: i, in: fleet) } }.map { fleet.ids[$0].rawValue }
        )
    }

    @Test func rawValuesAreTheWireSpelling() {
        #expect(DataClass.allCases.map(\.rawValue) == ["standard", "sensitive", "confidential"])
        #expect(DataClass(rawValue: "secret") == nil)
    }

    @Test func standardAvoidsOnlyQuarantinedNodes() {
        #expect(Self.eligible(.standard) == ["clean-home", "tampered", "old-tamper", "attested", "datacentre"])
    }

    @Test func sensitiveNeedsCleanTamperHistory() {
        #expect(Self.eligible(.sensitive) == ["clean-home", "old-tamper", "attested", "datacentre"])
    }

    @Test func confidentialNeedsAttestationOrDataCentre() {
        #expect(Self.eligible(.confidential) == ["attested", "datacentre"])
    }

    @Test func unreadableTamperLabelCountsAsTampered() {
        let filter = DataClassFilter(dataClass: .sensitive, cleanWindowSeconds: 10)
        #expect(!filter.admits(labels: [SecurityLabels.lastTamperAt: "garbage"], now: 1e9))
        #expect(filter.admits(labels: [:], now: 0))
    }

    @Test func confidentialWithNoAttestedNodeIsRefused() {
        var fleet = FleetState(nodes: [Fixtures.node("a"), Fixtures.node("b")])
        fleet.upsert(Self.node("c", labels: [SecurityLabels.lastTamperAt: "0"]))
        var scheduler = Scheduler()
        let security = RequestSecurity(tenant: "t", dataClass: .confidential)
        let decision = scheduler.decide(Fixtures.request(), security: security, fleet: fleet, now: 0)
        #expect(decision == .refuse(retryAfterSeconds: nil, reason: .noEligibleNode))
        #expect(DataClassFilter(dataClass: .confidential).refusalMessage.contains("confidential"))
        // The extra filters apply to that one decision only.
        #expect(scheduler.configuration.filters.isEmpty)
        #expect(scheduler.decide(Fixtures.request(), fleet: fleet, now: 0).placement != nil)
    }

    @Test func sensitiveNeverSharesANodeWithAnotherTenant() {
        var occupancy = TenantOccupancy()
        let r1 = occupancy.admit(tenant: "t2", dataClass: .standard, on: NodeID("clean-home"))
        #expect(r1)
        let r2 = occupancy.admit(tenant: "t3", dataClass: .sensitive, on: NodeID("attested"))
        #expect(r2)
        // t1 sensitive: not where t2 runs standard work, not where t3 runs sensitive work.
        #expect(Self.eligible(.sensitive, tenant: "t1", occupancy: occupancy) == ["old-tamper", "datacentre"])
        // t1 standard: may batch with t2's standard work, never with t3's isolated work.
        #expect(Self.eligible(.standard, tenant: "t1", occupancy: occupancy) == ["clean-home", "tampered", "old-tamper", "datacentre"])
        // t3 may add more of its own.
        #expect(Self.eligible(.sensitive, tenant: "t3", occupancy: occupancy).contains("attested"))
        // A racing placement is refused by admit itself.
        let r3 = occupancy.admit(tenant: "t1", dataClass: .sensitive, on: NodeID("clean-home"))
        #expect(!r3)
        occupancy.release(tenant: "t2", dataClass: .standard, on: NodeID("clean-home"))
        #expect(occupancy.tenants(on: NodeID("clean-home")).isEmpty)
        let r4 = occupancy.admit(tenant: "t1", dataClass: .sensitive, on: NodeID("clean-home"))
        #expect(r4)
    }

    @Test func excludedNodesAreSkipped() {
        let fleet = FleetState(nodes: [Fixtures.node("a"), Fixtures.node("b")])
        var scheduler = Scheduler()
        let security = RequestSecurity(tenant: "t", dataClass: .standard, excludedNodes: [NodeID("a")])
        #expect(scheduler.decide(Fixtures.request(), security: security, fleet: fleet, now: 0).placement?.node == NodeID("b"))
    }
}
