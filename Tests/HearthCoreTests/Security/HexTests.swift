import Foundation
import Testing

@testable import HearthCore

@Suite struct HexTests {
    /// A generator that returns the words it was given, in order.
    struct Scripted: RandomNumberGenerator {
        var words: [UInt64]
        mutating func next() -> UInt64 { words.removeFirst() }
    }

    @Test func encodesEveryByteAsTwoLowerCaseDigits() {
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.encode([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(Hex.encode((0...255).map(UInt8.init)).count == 512)
        #expect(Hex.encode(AnySequence([0xde, 0xad] as [UInt8])) == "dead", "a sequence that is not a collection")
    }

    @Test func randomTakesEightBytesADrawAndKeepsExactlyTheCountAskedFor() {
        var generator = Scripted(words: [0x0807_0605_0403_0201, 0x100f_0e0d_0c0b_0a09])
        // Little-endian bytes of the first word, then the first two of the second.
        #expect(Hex.random(bytes: 10, using: &generator) == "0102030405060708090a")
        #expect(generator.words.isEmpty)
        var system = SystemRandomNumberGenerator()
        let salt = Hex.random(bytes: 32, using: &system)
        #expect(salt.count == 64 && salt.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(Hex.random(bytes: 32, using: &system) != salt)
    }

    @Test func randomUUIDIsAVersionFourUUIDInLowerCase() throws {
        var generator = Scripted(words: [0xFFFF_FFFF_FFFF_FFFF, 0x0000_0000_0000_0000])
        // Version 4 in the 13th digit, variant 10xx in the 17th, whatever the generator gave.
        #expect(Hex.randomUUID(using: &generator) == "ffffffff-ffff-4fff-8000-000000000000")
        var system = SystemRandomNumberGenerator()
        let id = Hex.randomUUID(using: &system)
        let parsed = try #require(UUID(uuidString: id))
        #expect(parsed.uuidString.lowercased() == id)
        #expect(Hex.randomUUID(using: &system) != id)
    }
}
