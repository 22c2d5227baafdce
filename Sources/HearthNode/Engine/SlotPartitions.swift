import Foundation
import HearthCore
import HearthProtocol
import NIOCore
import NIOFoundationCompat

/// Gives llama-server a cache salt it does not have: which slot serves which cache partition.
///
/// llama.cpp keeps each slot's last prompt and reuses it for the next request on that slot (`cache_prompt`), and by
/// default picks the slot whose cached prompt is most similar: a tenant sending another's prompt lands on the slot
/// holding it and answers sooner. Here every request is pinned to a slot (`id_slot`) and reuses the slot's cache only
/// when the slot's last request came from the same partition (the gateway's salt); otherwise it runs with
/// `cache_prompt: false`, and the slot then belongs to the new partition. A partition's repeat still hits its cache.
///
/// Among its idle slots a partition's request takes the one whose cached prompt shares the most leading blocks with
/// its own (the conversation's next turn, another question over the same document); a prompt that shares nothing
/// with any of them takes an empty slot while there is one, so that a tenant's second document does not evict its
/// first. Prompts are compared by their prefix hashes, not their bytes: the gateway's JSON encoder may order a
/// message's keys differently from one request to the next.
struct SlotPartitions {
    /// Where one request runs, and whether it may reuse what the slot holds.
    struct Assignment: Equatable {
        var slot: Int
        var reuse: Bool
    }

    private struct Slot {
        /// The partition whose prompt the slot holds (after the requests queued on it): nil when unknown.
        var partition: String?
        var running = 0
        var lastUsed: UInt64 = 0
        /// The prefix hashes of the last prompt the slot read (``promptHashes(of:)``): what its KV cache holds.
        var prompt: [UInt64] = []
    }

    private var slots: [Slot]
    private var tick: UInt64 = 0

    init(slots: Int) {
        self.slots = Array(repeating: Slot(), count: max(1, slots))
    }

    /// Pins a request of `partition` (nil: none known, never reuses) to a slot. Reuse only on an idle slot whose last
    /// request was the same partition's, the one whose cached prompt shares the longest start with `prompt` (a
    /// conversation's next turn, another question over the same document); else the least recently used idle slot,
    /// else the least recently used slot (llama-server queues the request there), without reuse.
    mutating func assign(partition: String?, prompt: [UInt64] = []) -> Assignment {
        tick &+= 1
        let own = slots.indices.filter { slots[$0].running == 0 && partition != nil && slots[$0].partition == partition }
        let shared = own.map { (index: $0, length: Self.sharedBlocks(slots[$0].prompt, prompt)) }
        let best = shared.max { $0.length != $1.length ? $0.length < $1.length : slots[$0.index].lastUsed < slots[$1.index].lastUsed }
        // A slot of this partition holding an unrelated prompt is kept for its own next request while an empty slot is free.
        let empty = slots.indices.first { slots[$0].running == 0 && slots[$0].partition == nil }
        if let best, prompt.isEmpty || best.length > 0 || empty == nil {
            slots[best.index].running += 1
            slots[best.index].lastUsed = tick
            slots[best.index].prompt = prompt
            return Assignment(slot: best.index, reuse: true)
        }
        let idle = slots.indices.filter { slots[$0].running == 0 }
        let candidates = idle.isEmpty ? Array(slots.indices) : idle
        let index = empty ?? candidates.min { slots[$0].lastUsed < slots[$1].lastUsed } ?? 0
        slots[index].partition = partition
        slots[index].prompt = partition == nil ? [] : prompt
        slots[index].running += 1
        slots[index].lastUsed = tick
        return Assignment(slot: index, reuse: false)
    }

    /// The request on `slot` ended (answered, failed or cancelled).
    mutating func release(_ slot: Int) {
        guard slots.indices.contains(slot) else { return }
        slots[slot].running = max(0, slots[slot].running - 1)
    }

    /// The engine restarted: every slot is empty.
    mutating func forgetAll() {
        for index in slots.indices {
            slots[index].partition = nil
            slots[index].prompt = []
        }
    }

    /// Tokens per block of the hashes a slot's prompt is compared by: 64 bytes, so a shared start of one short
    /// sentence already counts, while a chat template's opening alone (the role boundary) does not.
    static let comparedBlockTokens = 16
    /// Blocks compared at most: 128 KiB of prompt, as at the gateway.
    static let comparedMaxBlocks = PromptPrefixHasher.routingMaxBlocks * PromptPrefixHasher.routingBlockTokens / comparedBlockTokens

    /// The prompt's prefix hashes (``PromptPrefixHashes``) in blocks of ``comparedBlockTokens``: what the slot's KV
    /// cache will hold once the request has read it. Read from the decoded body, so that the order of its keys (which
    /// the gateway's encoder may change from one request to the next) does not matter. Empty when the body is not a
    /// JSON object with messages or a prompt.
    static func promptHashes(of body: ByteBuffer) -> [UInt64] {
        guard let fields = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] else { return [] }
        return PromptPrefixHashes.of(fields, blockTokens: comparedBlockTokens, maxBlocks: comparedMaxBlocks)
    }

    /// How many leading hashes two prompts share.
    static func sharedBlocks(_ a: [UInt64], _ b: [UInt64]) -> Int {
        zip(a, b).prefix { $0 == $1 }.count
    }
}
