import NIOCore

/// Gives llama-server a cache salt it does not have: which slot serves which cache partition.
///
/// llama.cpp keeps each slot's last prompt and reuses it for the next request on that slot (`cache_prompt`), and by
/// default picks the slot whose cached prompt is most similar: a tenant sending another's prompt lands on the slot
/// holding it and answers sooner. Here every request is pinned to a slot (`id_slot`) and reuses the slot's cache only
/// when the slot's last request came from the same partition (the gateway's salt); otherwise it runs with
/// `cache_prompt: false`, and the slot then belongs to the new partition. A partition's repeat still hits its cache.
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
        /// The start of the last prompt the slot read (``promptBytes(of:)``): what its KV cache holds.
        var prompt: [UInt8] = []
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
    mutating func assign(partition: String?, prompt: [UInt8] = []) -> Assignment {
        tick &+= 1
        let own = slots.indices.filter { slots[$0].running == 0 && partition != nil && slots[$0].partition == partition }
        let shared = own.map { (index: $0, length: Self.commonPrefixLength(slots[$0].prompt, prompt)) }
        let best = shared.max { $0.length != $1.length ? $0.length < $1.length : slots[$0.index].lastUsed < slots[$1.index].lastUsed }
        // A slot of this partition holding an unrelated prompt is kept for its own next request while an empty slot is free.
        let empty = slots.indices.first { slots[$0].running == 0 && slots[$0].partition == nil }
        if let best, prompt.isEmpty || best.length >= Self.unrelatedPromptBytes || empty == nil {
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

    /// Bytes of a prompt's start kept per slot to compare with the next request's.
    static let promptBytesKept = 64 * 1024
    /// A shared start shorter than this (a chat template's opening) does not make two prompts related.
    static let unrelatedPromptBytes = 64

    /// The body from its `"messages"` (or `"prompt"`) key on, up to ``promptBytesKept``: the part whose start the
    /// engine's cache can reuse. Empty when the body has neither key.
    static func promptBytes(of body: ByteBuffer) -> [UInt8] {
        let view = body.readableBytesView
        guard
            let start = AnswerMeter.find(Array(#""messages""#.utf8), in: view)
                ?? AnswerMeter.find(Array(#""prompt""#.utf8), in: view)
        else { return [] }
        return Array(view[start..<min(view.endIndex, start + promptBytesKept)])
    }

    static func commonPrefixLength(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var length = 0
        let limit = min(a.count, b.count)
        while length < limit && a[length] == b[length] { length += 1 }
        return length
    }
}
