import HearthCore
import Testing

/// The gateway's prompt prefix hashes: shared leading blocks hash alike, everything after the first difference
/// does not, role boundaries count, and the work is bounded.
@Suite struct PromptPrefixHasherTests {
    /// About 1,250 tokens: two full 512-token blocks and a part of a third.
    static let systemPrompt = String(repeating: "You are the support assistant of Hartley & Sons. ", count: 100)

    static func chat(_ messages: (String, String)...) -> [UInt64] {
        PromptPrefixHasher.hashes(messages: messages.map { (role: $0.0, text: $0.1) })
    }

    /// The length of the common leading run of two hash lists.
    static func common(_ a: [UInt64], _ b: [UInt64]) -> Int {
        zip(a, b).prefix { $0 == $1 }.count
    }

    @Test func theBlockIsTheSimulatorsBlock() {
        #expect(PromptPrefixHasher.blockBytes == NodeProfile.blockTokens * PromptPrefixHasher.bytesPerToken)
        #expect(PromptPrefixHasher.blockBytes % 8 == 0)
        // ⌈bytes / block⌉ hashes, the partial last block included, as the traces' hash_ids.
        for bytes in [1, 2047, 2048, 2049, 4096, 10_000] {
            let expected = (bytes + PromptPrefixHasher.blockBytes - 1) / PromptPrefixHasher.blockBytes
            #expect(PromptPrefixHasher.hashes(text: String(repeating: "x", count: bytes)).count == expected, "\(bytes) bytes")
        }
    }

    @Test func emptyInputHasNoHashes() {
        #expect(PromptPrefixHasher.hashes(text: "").isEmpty)
        #expect(PromptPrefixHasher.hashes(messages: []).isEmpty)
        #expect(PromptPrefixHasher(kind: .tokens).finish().isEmpty)
        #expect(PromptPrefixHasher.hashes(text: "anything", maxBlocks: 0).isEmpty)
        // An empty message still has its role boundary.
        #expect(Self.chat(("user", "")).count == 1)
    }

    @Test func aSharedSystemPromptGivesTheSameLeadingHashesAndDifferentUsersDivergeAfter() {
        let alice = Self.chat(("system", Self.systemPrompt), ("user", "Where is my parcel 4471?"))
        let bob = Self.chat(("system", Self.systemPrompt), ("user", "Can I return a kettle?"))
        #expect(alice.count == 3 && bob.count == 3)
        // The system prompt's two full blocks match; the block where the user turns start does not.
        #expect(Self.common(alice, bob) == 2)
        #expect(alice[2] != bob[2])
        #expect(Self.chat(("system", Self.systemPrompt), ("user", "Where is my parcel 4471?")) == alice, "deterministic")
    }

    @Test func onceTwoPromptsDifferEveryLaterBlockDiffersEvenWhereTheBytesAgree() {
        let tail = String(repeating: "the same long document text. ", count: 400)
        let a = PromptPrefixHasher.hashes(text: "A" + tail)
        let b = PromptPrefixHasher.hashes(text: "B" + tail)
        #expect(a.count == b.count && a.count > 3)
        #expect(Self.common(a, b) == 0)
        #expect(zip(a, b).allSatisfy { $0 != $1 }, "block i's hash covers blocks 0…i")
    }

    @Test func manyQuestionsOverOneDocumentShareTheDocumentsBlocks() {
        let document = String(repeating: "Clause 7.2: the lessee keeps the boiler serviced. ", count: 200)  // 10,000 bytes
        let first = PromptPrefixHasher.hashes(text: document + "\nQ: who services the boiler?")
        let second = PromptPrefixHasher.hashes(text: document + "\nQ: how long is the lease?")
        #expect(Self.common(first, second) == document.utf8.count / PromptPrefixHasher.blockBytes)
    }

    @Test("the gateway's 64-token blocks give questions over a document shorter than one 512-token block shared keys")
    func routingBlocksFindAShortDocument() {
        let document = String(repeating: "The boiler is serviced each May. ", count: 40)  // 1,320 bytes, about 330 tokens
        func question(_ text: String, blockTokens: Int) -> [UInt64] {
            PromptPrefixHasher.hashes(
                messages: [(role: "user", text: "Document:\n" + document + "\n\n" + text)], blockTokens: blockTokens,
                maxBlocks: PromptPrefixHasher.routingMaxBlocks)
        }
        let coarse = (question("Who services it?", blockTokens: 512), question("When?", blockTokens: 512))
        #expect(Self.common(coarse.0, coarse.1) == 0, "one partial block each, which the questions make differ")
        let fine = (
            question("Who services it?", blockTokens: PromptPrefixHasher.routingBlockTokens),
            question("When?", blockTokens: PromptPrefixHasher.routingBlockTokens)
        )
        // Everything up to the question: the role boundary (6 bytes), "Document:\n", the document and "\n\n".
        let sharedBytes = 6 + 10 + document.utf8.count + 2
        #expect(Self.common(fine.0, fine.1) == sharedBytes / (PromptPrefixHasher.routingBlockTokens * PromptPrefixHasher.bytesPerToken))
        #expect(fine.0.count == (sharedBytes + "Who services it?".utf8.count + 255) / 256)
        // The bound is the same 128 KiB of prompt at either block size.
        let long = String(repeating: "y", count: 200_000)
        #expect(
            PromptPrefixHasher.hashes(
                text: long, blockTokens: PromptPrefixHasher.routingBlockTokens, maxBlocks: PromptPrefixHasher.routingMaxBlocks
            ).count
                * PromptPrefixHasher.routingBlockTokens == PromptPrefixHasher.defaultMaxBlocks * NodeProfile.blockTokens)
    }

    @Test func turnTwoOfAChatRepeatsTurnOnesFullBlocks() {
        let question = String(repeating: "Please summarise the attached minutes. ", count: 80)
        let turn1 = Self.chat(("system", "Be brief."), ("user", question))
        let turn2 = Self.chat(("system", "Be brief."), ("user", question), ("assistant", "They agreed the budget."), ("user", "And?"))
        #expect(turn1.count == 2)
        // Turn 1's full block is turn 2's first; its partial last block is not a block of turn 2.
        #expect(Self.common(turn1, turn2) == 1)
    }

    @Test func aRoleBoundaryIsPartOfTheHashedBytes() {
        let text = Self.systemPrompt
        #expect(Self.chat(("system", text))[0] != Self.chat(("user", text))[0], "same text, another role")
        #expect(Self.chat(("developer", text))[0] != Self.chat(("system", text))[0])
        // The same text split differently between messages.
        #expect(Self.chat(("user", "ab"), ("user", "c")) != Self.chat(("user", "abc")))
        #expect(Self.chat(("user", "ab"), ("user", "c")) != Self.chat(("user", "a"), ("user", "bc")))
        // A chat is not its text as a completion prompt.
        #expect(Self.chat(("user", text))[0] != PromptPrefixHasher.hashes(text: text)[0])
    }

    @Test func contentInSeveralPartsHashesAsItsBytes() {
        var parts = PromptPrefixHasher(kind: .chat)
        parts.beginMessage(role: "user")
        for piece in ["Hello, ", "wörld", "! ", String(repeating: "ß", count: 3_000)] { parts.append(piece) }
        #expect(parts.finish() == Self.chat(("user", "Hello, wörld! " + String(repeating: "ß", count: 3_000))))
    }

    @Test func trailingBytesThatLeaveTheSameWordStillDiffer() {
        #expect(PromptPrefixHasher.hashes(text: "ab") != PromptPrefixHasher.hashes(text: "ab\u{0}"))
        #expect(PromptPrefixHasher.hashes(text: "") != PromptPrefixHasher.hashes(text: "\u{0}"))
    }

    @Test func theWorkIsBoundedToMaxBlocks() {
        let huge = String(repeating: "0123456789abcdef", count: 64 * 1024)  // 1 MiB
        let hashes = PromptPrefixHasher.hashes(text: huge)
        #expect(hashes.count == PromptPrefixHasher.defaultMaxBlocks)
        // Bytes past the bound are never read: a different ending changes nothing.
        #expect(PromptPrefixHasher.hashes(text: huge + "a different ending") == hashes)
        #expect(PromptPrefixHasher.hashes(text: huge, maxBlocks: 3) == Array(hashes.prefix(3)))
        var hasher = PromptPrefixHasher(kind: .chat, maxBlocks: 2)
        hasher.beginMessage(role: "system")
        hasher.append(huge)
        #expect(hasher.isFull)
        hasher.beginMessage(role: "user")
        #expect(hasher.finish().count == 2)
    }

    @Test func tokenPromptsHashFourBytesATokenSoABlockIs512Tokens() {
        func tokens(_ ids: Range<UInt32>) -> [UInt64] {
            var hasher = PromptPrefixHasher(kind: .tokens)
            for id in ids { hasher.append(token: id) }
            return hasher.finish()
        }
        #expect(tokens(0..<512).count == 1)
        #expect(tokens(0..<513).count == 2)
        #expect(Self.common(tokens(0..<1024), tokens(0..<600)) == 1)
        #expect(tokens(0..<512) != PromptPrefixHasher.hashes(text: String(repeating: "x", count: 2048)))
    }

    @Test func isolationKeepsTenantsApartAfterHashing() {
        let hashes = Self.chat(("system", Self.systemPrompt))
        let request = SchedulingRequest(
            model: "m", taskClass: .chat, promptTokens: 1300, maxOutputTokens: 10, prefixHashes: hashes, arrival: 0)
        let a = CacheIsolation.isolate(request, partitionKey: 1).prefixHashes
        let b = CacheIsolation.isolate(request, partitionKey: 2).prefixHashes
        #expect(a.count == hashes.count)
        #expect(zip(a, b).allSatisfy { $0 != $1 })
    }
}
