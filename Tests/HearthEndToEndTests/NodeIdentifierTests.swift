import Foundation
import HearthCore
import HearthIdentity
import Testing

/// Issue 11: a node's id never defaults to the machine's host name (`hearth node` without `--node-id`).
@Suite struct NodeIdentifierTests {
    @Test func withoutAFlagTheIdIsRandomKeptAndNeverTheHostName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-id-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try NodeIdentifier.resolve(nil, dataDirectory: directory)
        #expect(first.rawValue != ProcessInfo.processInfo.hostName)
        #expect(first.rawValue.wholeMatch(of: /node-[0-9a-f]{12}/) != nil)
        // The next start keeps it (its enrollment and certificate name it).
        #expect(try NodeIdentifier.resolve(nil, dataDirectory: directory) == first)
        // The operator's flag wins, and is kept from then on.
        #expect(try NodeIdentifier.resolve("kitchen-1", dataDirectory: directory) == NodeID("kitchen-1"))
        #expect(try NodeIdentifier.resolve(nil, dataDirectory: directory) == NodeID("kitchen-1"))
    }

    @Test func wellFormedIds() {
        #expect(NodeIdentifier.isWellFormed("node-1.a_b"))
        #expect(!NodeIdentifier.isWellFormed(""))
        #expect(!NodeIdentifier.isWellFormed(String(repeating: "a", count: 129)))
        #expect(!NodeIdentifier.isWellFormed("a b"))
        #expect(!NodeIdentifier.isWellFormed("é"))
    }
}
