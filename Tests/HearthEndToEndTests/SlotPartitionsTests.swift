import Foundation
import NIOCore
import Testing

@testable import HearthNode

/// llama-server's slots as cache partitions: a slot's cached prompt is reused only by the partition that filled it.
@Suite struct SlotPartitionsTests {
    @Test func aPartitionReusesOnlyItsOwnSlot() {
        var slots = SlotPartitions(slots: 2)
        let a = slots.assign(partition: "a")
        #expect(a == .init(slot: 0, reuse: false))
        slots.release(a.slot)
        #expect(slots.assign(partition: "a") == .init(slot: 0, reuse: true), "tenant A's repeat hits its cache")
        slots.release(0)
        let b = slots.assign(partition: "b")
        #expect(b == .init(slot: 1, reuse: false), "tenant B gets another slot, and no reuse")
        slots.release(b.slot)
        // B on A's slot (the only idle one) does not reuse it, and the slot is B's afterwards.
        let busy = slots.assign(partition: "b")
        #expect(busy == .init(slot: 1, reuse: true))
        let onA = slots.assign(partition: "b")
        #expect(onA == .init(slot: 0, reuse: false))
        slots.release(onA.slot)
        slots.release(busy.slot)
        #expect(slots.assign(partition: "a").reuse == false, "A's prompt was replaced by B's on slot 0")
    }

    @Test func withEverySlotBusyARequestQueuesWithoutReuse() {
        var slots = SlotPartitions(slots: 1)
        let first = slots.assign(partition: "a")
        let second = slots.assign(partition: "a")
        #expect(first.reuse == false && second == .init(slot: 0, reuse: false))
        slots.release(0)
        slots.release(0)
        #expect(slots.assign(partition: "a").reuse)
        slots.release(0)
        #expect(slots.assign(partition: nil).reuse == false, "no partition, no reuse")
        slots.release(0)
        #expect(slots.assign(partition: nil).reuse == false)
        slots.release(0)
        slots.forgetAll()
        #expect(slots.assign(partition: "a").reuse == false, "a restarted engine holds nothing")
    }

    @Test func aPartitionsRequestGoesToTheSlotHoldingItsPromptsStart() {
        var slots = SlotPartitions(slots: 3)
        // The two encodings of each prompt alternate, as the gateway's JSON encoder may order keys either way.
        var flip = false
        func prompt(_ document: String, _ question: String) -> [UInt64] {
            flip.toggle()
            let message =
                flip ? #"{"role":"user","content":"\#(document) \#(question)"}"# : #"{"content":"\#(document) \#(question)","role":"user"}"#
            return SlotPartitions.promptHashes(of: ByteBuffer(string: #"{"model":"m","messages":[\#(message)]}"#))
        }
        let documentA = String(repeating: "alpha ", count: 40)
        let documentB = String(repeating: "beta ", count: 40)
        let a = slots.assign(partition: "t", prompt: prompt(documentA, "first?"))
        slots.release(a.slot)
        let b = slots.assign(partition: "t", prompt: prompt(documentB, "first?"))
        slots.release(b.slot)
        #expect(a.slot != b.slot, "an unrelated prompt takes an empty slot, keeping A's cache")
        #expect(!b.reuse)
        // Before, any idle slot of the partition was taken: B's second question went to A's slot and read B again.
        let bAgain = slots.assign(partition: "t", prompt: prompt(documentB, "second?"))
        slots.release(bAgain.slot)
        #expect(bAgain == .init(slot: b.slot, reuse: true))
        let aAgain = slots.assign(partition: "t", prompt: prompt(documentA, "second?"))
        #expect(aAgain == .init(slot: a.slot, reuse: true))
        #expect(SlotPartitions.promptHashes(of: ByteBuffer(string: #"{"model":"m"}"#)).isEmpty)
        #expect(SlotPartitions.promptHashes(of: ByteBuffer(string: "not json")).isEmpty)
    }

    @Test func theBodyIsPinnedAndTheSaltRead() throws {
        let salt = String(repeating: "c0", count: 32)
        let body = ByteBuffer(
            string: #"{"model":"m","messages":[{"role":"user","content":"say \"cache_salt\":\"x\""}],"cache_salt":"\#(salt)"}"#)
        #expect(LlamaServerEngine.cacheSalt(in: body) == salt)
        let reused = try #require(
            try JSONSerialization.jsonObject(with: Data(buffer: LlamaServerEngine.pinned(body, to: .init(slot: 1, reuse: true))))
                as? [String: Any])
        #expect(reused["id_slot"] as? Int == 1 && reused["cache_prompt"] == nil)
        let fresh = try #require(
            try JSONSerialization.jsonObject(with: Data(buffer: LlamaServerEngine.pinned(body, to: .init(slot: 0, reuse: false))))
                as? [String: Any])
        #expect(fresh["id_slot"] as? Int == 0 && fresh["cache_prompt"] as? Bool == false)
        // The key twice (a tool schema naming it): the top-level one counts.
        let twice = ByteBuffer(string: #"{"tools":[{"p":{"cache_salt":"zz"}}],"cache_salt":"ab"}"#)
        #expect(LlamaServerEngine.cacheSalt(in: twice) == "ab")
        #expect(LlamaServerEngine.cacheSalt(in: ByteBuffer(string: #"{"model":"m"}"#)) == nil)
    }
}
