import HearthCore
import Testing

@Suite struct TransformerAllocatorTests {
    let transformer = TransformerAllocator.Transformer(id: "t", ratingKVA: 25, powerFactor: 0.9, margin: 0.1)  // 20.25 kW

    @Test func neverExceedsRatingAndIsMaxMinFair() {
        let homes = [
            TransformerAllocator.Home(id: "a", homeLoadWatts: 3_000, nodeDemandWatts: 19_200),
            TransformerAllocator.Home(id: "b", homeLoadWatts: 2_000, nodeDemandWatts: 1_000),
            TransformerAllocator.Home(id: "c", homeLoadWatts: 1_000, nodeDemandWatts: 19_200),
        ]
        let shares = TransformerAllocator().allocate(homes, on: transformer)
        let capacity = transformer.limitWatts - 6_000
        #expect(abs(shares.reduce(0, +) - capacity) < 1e-6)
        #expect(shares[1] == 1_000)  // the small demand is met in full
        #expect(abs(shares[0] - shares[2]) < 1e-9)  // the rest split evenly
    }

    @Test func randomisedNeverOverAndNoEnvy() {
        var state: UInt64 = 42
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) * 0x1.0p-53
        }
        for _ in 0..<500 {
            let n = 1 + Int(next() * 12)
            let homes = (0..<n).map { i in
                TransformerAllocator.Home(
                    id: "\(i)", homeLoadWatts: next() * 8_000, nodeDemandWatts: next() * 19_200, nodeFloorWatts: next() * 3_000)
            }
            let rating = [25.0, 37.5, 50, 75][Int(next() * 4)]
            let t = TransformerAllocator.Transformer(id: "t", ratingKVA: rating)
            let shares = TransformerAllocator().allocate(homes, on: t)
            let total = homes.reduce(0) { $0 + $1.homeLoadWatts } + shares.reduce(0, +)
            let homesOnly = homes.reduce(0) { $0 + $1.homeLoadWatts }
            if homesOnly <= t.limitWatts { #expect(total <= t.limitWatts + 1e-6) } else { #expect(shares.allSatisfy { $0 == 0 }) }
            for (i, s) in shares.enumerated() {
                #expect(s <= homes[i].nodeDemandWatts + 1e-9)
                #expect(s == 0 || s >= homes[i].nodeFloorWatts - 1e-9)
            }
            // Max-min: a node short of its demand gets at least as much as any other running node.
            let running = shares.enumerated().filter { $0.element > 0 }
            for (i, s) in running where s < homes[i].nodeDemandWatts - 1e-6 {
                for (_, other) in running { #expect(s >= other - 1e-6) }
            }
        }
    }

    @Test func homesAloneOverRatingGiveZero() {
        let homes = [TransformerAllocator.Home(id: "a", homeLoadWatts: 30_000, nodeDemandWatts: 19_200)]
        #expect(TransformerAllocator().allocate(homes, on: transformer) == [0])
        let unknown = [TransformerAllocator.Home(id: "a", homeLoadWatts: .nan, nodeDemandWatts: 19_200)]
        #expect(TransformerAllocator().allocate(unknown, on: transformer) == [0])
    }
}
