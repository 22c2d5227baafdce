/// A simulation event. Ties in time break by insertion order, so runs are deterministic.
struct SimEvent {
    enum Kind: UInt8 {
        case arrival
        case prefillDone
        case decodeCompletion
        case nodeDown
        case nodeUp
    }

    var time: Double
    var sequence: UInt64
    var kind: Kind
    var node: Int32
    var request: Int32
    var version: UInt32

    @inline(__always)
    static func precedes(_ a: SimEvent, _ b: SimEvent) -> Bool {
        a.time < b.time || (a.time == b.time && a.sequence < b.sequence)
    }
}

/// A binary min-heap of events.
struct EventQueue {
    private var heap: [SimEvent] = []
    private var nextSequence: UInt64 = 0

    init(capacity: Int = 0) { heap.reserveCapacity(capacity) }

    var isEmpty: Bool { heap.isEmpty }
    var firstTime: Double { heap[0].time }
    var count: Int { heap.count }

    mutating func push(time: Double, kind: SimEvent.Kind, node: Int32 = -1, request: Int32 = -1, version: UInt32 = 0) {
        heap.append(SimEvent(time: time, sequence: nextSequence, kind: kind, node: node, request: request, version: version))
        nextSequence += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard SimEvent.precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> SimEvent? {
        guard !heap.isEmpty else { return nil }
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            let n = heap.count
            while true {
                let left = 2 * parent + 1
                guard left < n else { break }
                var child = left
                if left + 1 < n && SimEvent.precedes(heap[left + 1], heap[left]) { child = left + 1 }
                guard SimEvent.precedes(heap[child], heap[parent]) else { break }
                heap.swapAt(child, parent)
                parent = child
            }
        }
        return top
    }
}
