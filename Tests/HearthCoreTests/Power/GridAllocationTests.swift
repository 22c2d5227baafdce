import HearthCore
import Testing

/// The gateway's coordinator and the simulator share this allocation: grid events first, then each transformer.
@Suite struct GridAllocationTests {
    static let transformer = TransformerAllocator.Transformer(id: "t1", ratingKVA: 25, powerFactor: 0.9, margin: 0.1)

    static func node(_ id: String, home: Double?, floor: Double = 3_400, budget: Double? = 19_200) -> GridAllocation.Node {
        GridAllocation.Node(
            id: id, groups: ["t1", "home-\(id)"], transformerID: "t1", fullWatts: 12_500, gridFloorWatts: floor, homeLoadWatts: home,
            homeBudgetWatts: budget)
    }

    @Test func homesFirstThenTheNodesShareTheRest() {
        let allocation = GridAllocation(transformers: [Self.transformer])
        // 25 kVA × 0.9 × 0.9 = 20.25 kW; homes 3 + 5 kW leave 12.25 kW, shared evenly.
        let limits = allocation.allocate([Self.node("a", home: 3_000), Self.node("b", home: 5_000)], events: [], at: 0)
        #expect(limits.map(\.gridCapWatts) == [nil, nil])
        #expect(limits.map { $0.transformerBudgetWatts ?? -1 }.allSatisfy { abs($0 - 6_125) < 1e-6 })
    }

    @Test func aChargedBatteryLowersTheFloorSoTheNodeRunsWhereItWouldDrain() {
        let allocation = GridAllocation(transformers: [Self.transformer])
        // Homes of 9 kW and 9.5 kW leave 1.75 kW: below a 3.4 kW floor, but above a floor the battery lowered to 0.
        let drained = allocation.allocate([Self.node("a", home: 9_000), Self.node("b", home: 9_500)], events: [], at: 0)
        #expect(drained.map(\.transformerBudgetWatts) == [0, 0])
        let withBattery = allocation.allocate(
            [Self.node("a", home: 9_000, floor: 0), Self.node("b", home: 9_500, floor: 0)], events: [], at: 0)
        #expect(withBattery.compactMap(\.transformerBudgetWatts).reduce(0, +) > 1_700)
    }

    @Test func aGridEventCapsItsNodesAndItsCapBoundsTheirDemand() {
        let allocation = GridAllocation(transformers: [Self.transformer])
        let shed = GridEvent(id: "e#0", signal: .importCapacityLimit(kilowatts: 7), start: 0, duration: 100, targets: ["home-a"])
        let limits = allocation.allocate([Self.node("a", home: 3_000), Self.node("b", home: 3_000)], events: [shed], at: 10)
        #expect(limits[0].gridCapWatts == 4_000, "the site's 7 kW less its home's 3 kW")
        #expect(limits[1].gridCapWatts == nil)
        // a asks for no more than its cap, so b gets the rest of the transformer's 14.25 kW.
        #expect(abs((limits[1].transformerBudgetWatts ?? 0) - 10_250) < 1e-6)
    }

    @Test func anUnknownHomeCountsAsAFullServiceAndANodeWithoutABudgetAsksForNothing() {
        let allocation = GridAllocation(transformers: [Self.transformer], unknownHomeLoadWatts: 38_400)
        let limits = allocation.allocate([Self.node("a", home: nil), Self.node("b", home: 1_000, budget: nil)], events: [], at: 0)
        #expect(limits.map(\.transformerBudgetWatts) == [0, 0])
    }

    @Test func aBatteryNodesGridFloorIsItsFloorLessWhatTheBatteryCanGive() {
        var governor = PowerGovernor(
            configuration: .init(
                hostWatts: 2_900, gpuMaxWatts: 9_600, gpuMinWatts: 4_800, idleWatts: 1_500,
                battery: NodeBattery.Configuration(kilowattHours: 15, kilowatts: 5)))
        #expect(governor.gridFloorWatts == 7_700 - 5_000)
        governor = PowerGovernor(configuration: .init(hostWatts: 2_900, gpuMaxWatts: 9_600, gpuMinWatts: 4_800, idleWatts: 1_500))
        #expect(governor.gridFloorWatts == 7_700)
    }
}
