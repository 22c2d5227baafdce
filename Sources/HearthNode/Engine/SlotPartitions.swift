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
    }

    private var slots: [Slot]
    private var tick: UInt64 = 0

    init(slots: Int) {
        self.slots = Array(repeating: Slot(), count: max(1, slots))
    }

    /// Pins a request of `partition` (nil: none known, never reuses) to a slot. Reuse only on an idle slot whose last
    /// request was the same partition's; else the least recently used idle slot, else the least recently used slot
    /// (llama-server queues the request there), without reuse.
    mutating func assign(partition: String?) -> Assignment {
        tick &+= 1
        if let partition, let index = slots.indices.first(where: { slots[$0].running == 0 && slots[$0].partition == partition }) {
            slots[index].running += 1
            slots[index].lastUsed = tick
            return Assignment(slot: index, reuse: true)
        }
        let idle = slots.indices.filter { slots[$0].running == 0 }
        let candidates = idle.isEmpty ? Array(slots.indices) : idle
        let index = candidates.min { slots[$0].lastUsed < slots[$1].lastUsed } ?? 0
        slots[index].partition = partition
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
        for index in slots.indices { slots[index].partition = nil }
    }
}
