/// Which of a set of values to write to a store shared with others: those that changed since they were last written
/// (by the caller's measure of "changed"), and those not written for `refresh`, so that readers who judge freshness by
/// the write's time keep seeing them. Gateway replicas publish nodes' power reports and the coordinator their limits
/// through one of these: at 80,000 nodes, writing every value every second would be most of the database's work.
///
/// A failed write changes nothing: call ``written(_:at:)`` only once the store took the values.
public struct ChangePublication<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// How long an unchanged value may go unwritten (nil: never written again unless it changes).
    public var refresh: Double?
    private let same: @Sendable (Value, Value) -> Bool
    private var last: [Key: (value: Value, at: Double)] = [:]

    public init(refresh: Double?, same: @escaping @Sendable (Value, Value) -> Bool) {
        self.refresh = refresh
        self.same = same
    }

    /// The entries of `values` due a write at `now`, in their order.
    public func due(_ values: [(key: Key, value: Value)], now: Double) -> [(key: Key, value: Value)] {
        values.filter { entry in
            guard let previous = last[entry.key] else { return true }
            if !same(previous.value, entry.value) { return true }
            if let refresh, now - previous.at >= refresh { return true }
            return false
        }
    }

    /// Records that the store took `values` at `now`.
    public mutating func written(_ values: [(key: Key, value: Value)], at now: Double) {
        for entry in values { last[entry.key] = (entry.value, now) }
    }

    /// Forgets every key not in `keys` (nodes gone), so that one that comes back is written at once.
    public mutating func keep(only keys: Set<Key>) {
        last = last.filter { keys.contains($0.key) }
    }

    /// How many keys it remembers.
    public var count: Int { last.count }
}

/// A reader's copy of values others write to a shared store with the time of each write, kept up to date by reading
/// only what was written since its last read. Rows written in the same instant a reader reads may commit after it, so
/// each read goes back `overlap` seconds before the newest write it saw: a value read twice is harmless; one missed
/// is not. Times are the store's clock, so writers' and readers' clocks need not agree.
public struct IncrementalView<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public var overlap: Double
    /// The store's time up to which this view has read (nil: nothing read yet).
    public private(set) var readUpTo: Double?
    private var entries: [Key: (value: Value, at: Double)] = [:]

    public init(overlap: Double = 2) { self.overlap = overlap }

    /// The store time from which the next read must take rows (nil: a first read, which takes every row it needs).
    public var nextReadFrom: Double? { readUpTo.map { $0 - overlap } }

    /// Takes the rows of one read (newer writes replace older ones; an older row read again changes nothing), done
    /// when the store's clock said `clock`, and forgets values last written before `oldest`.
    public mutating func take(_ rows: [(key: Key, value: Value, at: Double)], clock: Double, oldest: Double) {
        for row in rows where (entries[row.key]?.at ?? -.infinity) <= row.at { entries[row.key] = (row.value, row.at) }
        entries = entries.filter { $0.value.at >= oldest }
        // The read saw every row committed by `clock`, save those racing it, which the overlap reads again.
        readUpTo = max(readUpTo ?? clock, clock)
    }

    /// Every value kept, by key.
    public var values: [Key: Value] { entries.mapValues(\.value) }

    /// The value of `key`, if kept.
    public subscript(key: Key) -> Value? { entries[key]?.value }
}
