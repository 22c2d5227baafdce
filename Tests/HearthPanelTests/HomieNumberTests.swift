import Testing

@testable import HearthPanel

@Suite struct HomieNumberTests {
    @Test(arguments: ["0", "-1", "+2.5", "1e3", "-1.25E-2", "13800.0"])
    func acceptsHomieLiterals(text: String) {
        #expect((try? HomieNumber.parse(text).get()) == Double(text))
    }

    @Test(arguments: ["", "-", "1.", ".5", "1e", "0x1p3", "nan", "Infinity", "1_000", "١٢", "1 ", "true", "null"])
    func refusesEverythingElse(text: String) {
        #expect((try? HomieNumber.parse(text).get()) == nil)
    }

    @Test func integersHaveNoFractionOrExponent() {
        #expect((try? HomieNumber.parse("200", integer: true).get()) == 200)
        #expect((try? HomieNumber.parse("200.0", integer: true).get()) == nil)
        #expect((try? HomieNumber.parse("2e2", integer: true).get()) == nil)
    }

    @Test func formatsPlainDecimals() {
        #expect(HomieNumber.format(200) == "200")
        #expect(HomieNumber.format(-11.52, decimals: 4) == "-11.52")
        #expect(HomieNumber.format(-0.0) == "0")
        #expect(HomieNumber.format(.nan) == "0")
        #expect(HomieNumber.format(0.0004) == "0")
    }
}
