import Testing

@testable import HearthCore

@Suite struct CacheIsolationTests {
    let isolation = CacheIsolation(secret: Array("gateway-secret-0123456789abcdef!".utf8))

    @Test func sha256AndHMACMatchPublishedVectors() {
        #expect(
            Hex.encode(SHA256Digest.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(SHA256Digest.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // RFC 4231 test case 2.
        #expect(
            Hex.encode(SHA256Digest.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // A key longer than the block (RFC 4231 test case 6).
        #expect(
            Hex.encode(
                SHA256Digest.hmac(
                    key: [UInt8](repeating: 0xaa, count: 131), message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
                ))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func partitionsFollowTheDataClass() {
        #expect(CacheIsolation.partition(tenant: "a", dataClass: .standard, session: "s", requestID: "r") == .tenant("a"))
        #expect(
            CacheIsolation.partition(tenant: "a", dataClass: .sensitive, session: "s", requestID: "r")
                == .session(tenant: "a", session: "s"))
        #expect(
            CacheIsolation.partition(tenant: "a", dataClass: .confidential, session: nil, requestID: "r")
                == .request(tenant: "a", requestID: "r"))
    }

    @Test func saltsDifferAcrossTenantsAndAreStable() {
        let a = isolation.salt(for: .tenant("a"))
        #expect(a == isolation.salt(for: .tenant("a")))
        #expect(a != isolation.salt(for: .tenant("b")))
        #expect(a.count == 64)
        #expect(a != CacheIsolation(secret: Array("other".utf8)).salt(for: .tenant("a")))
        // Length-prefixed fields: no ambiguity between ("ab","c") and ("a","bc").
        #expect(isolation.salt(for: .session(tenant: "ab", session: "c")) != isolation.salt(for: .session(tenant: "a", session: "bc")))
        // One HMAC gives both: the routing key is the salt's first eight bytes.
        let keys = isolation.keys(for: .request(tenant: "a", requestID: "r1"))
        #expect(keys.salt == isolation.salt(for: .request(tenant: "a", requestID: "r1")))
        #expect(UInt64(keys.salt.prefix(16), radix: 16) == keys.partitionKey)
        #expect(keys.partitionKey == isolation.partitionKey(for: .request(tenant: "a", requestID: "r1")))
    }

    @Test func prefixAffinityNeverMatchesAnotherTenantsPrefix() {
        // Tenant a's prompt is cached on node x; tenant b sends the same prefix.
        var fleet = FleetState(nodes: [Fixtures.node("x"), Fixtures.node("y")])
        let hashes: [UInt64] = [11, 22, 33]
        let keyA = isolation.partitionKey(tenant: "a", dataClass: .standard)
        let keyB = isolation.partitionKey(tenant: "b", dataClass: .standard)
        let requestA = CacheIsolation.isolate(Fixtures.request(prompt: 1536, hashes: hashes, session: 7), partitionKey: keyA)
        fleet.recordPrefix(requestA.prefixHashes, at: 0)
        let requestB = CacheIsolation.isolate(Fixtures.request(prompt: 1536, hashes: hashes, session: 7), partitionKey: keyB)
        #expect(fleet.matchedBlocks(requestB.prefixHashes, at: 0) == 0)
        #expect(fleet.matchedBlocks(requestA.prefixHashes, at: 0) == 3)
        #expect(requestA.sessionKey != requestB.sessionKey)
        #expect(Set(requestA.prefixHashes).isDisjoint(with: requestB.prefixHashes))
    }

    @Test func saltlessEnginesDisablePromptCaching() {
        #expect(CacheIsolation.cacheControl(engineSupportsSalt: true, dataClass: .sensitive, salt: "s") == .salt("s"))
        #expect(CacheIsolation.cacheControl(engineSupportsSalt: false, dataClass: .sensitive, salt: "s") == .disablePromptCache)
        #expect(CacheIsolation.cacheControl(engineSupportsSalt: false, dataClass: .standard, salt: "s") == .disablePromptCache)
        #expect(
            CacheIsolation.cacheControl(engineSupportsSalt: false, dataClass: .standard, salt: "s", standardMayShareOnSaltlessEngines: true)
                == .engineDefault)
        #expect(
            CacheIsolation.cacheControl(
                engineSupportsSalt: false, dataClass: .confidential, salt: "s", standardMayShareOnSaltlessEngines: true)
                == .disablePromptCache)
    }
}
