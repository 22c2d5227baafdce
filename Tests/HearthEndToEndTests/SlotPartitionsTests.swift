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
