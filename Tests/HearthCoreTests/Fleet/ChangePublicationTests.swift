import HearthCore
import Testing

/// Replicas write to the shared store only what changed (issue 14): at 80,000 nodes a write of every report every
/// second would be most of the database's work. Readers read only what was written since their last read.
@Suite struct ChangePublicationTests {
    static func withinTen(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 10 }

    @Test func writesWhatChangedAndRefreshesTheRest() {
        var publication = ChangePublication<String, Double>(refresh: 5, same: Self.withinTen)
        let first = [(key: "a", value: 100.0), (key: "b", value: 200.0)]
        #expect(publication.due(first, now: 0).map(\.key) == ["a", "b"], "nothing written yet: everything is due")
        publication.written(first, at: 0)

        // a wobbles within the tolerance, b moves: only b.
        #expect(publication.due([(key: "a", value: 105.0), (key: "b", value: 250.0)], now: 1).map(\.key) == ["b"])
        // Nothing written (a store that failed): b is still due.
        #expect(publication.due([(key: "a", value: 105.0), (key: "b", value: 250.0)], now: 2).map(\.key) == ["b"])
        publication.written([(key: "b", value: 250.0)], at: 2)
        #expect(publication.due([(key: "a", value: 105.0), (key: "b", value: 250.0)], now: 3).isEmpty)

        // Drift is measured from what was written, not from the last value seen: 100 → 105 → 111 is due.
        #expect(publication.due([(key: "a", value: 111.0)], now: 4).map(\.key) == ["a"])
        // Unchanged, but past the refresh since it was written at 0.
        #expect(publication.due([(key: "a", value: 100.0)], now: 5).map(\.key) == ["a"])
        #expect(publication.due([(key: "b", value: 250.0)], now: 5).isEmpty, "b was written at 2")
    }

    @Test func withoutRefreshOnlyChangesAreWrittenAndAKeyThatComesBackIsWrittenAtOnce() {
        var publication = ChangePublication<String, Double>(refresh: nil, same: Self.withinTen)
        publication.written([(key: "a", value: 1.0), (key: "b", value: 2.0)], at: 0)
        #expect(publication.due([(key: "a", value: 1.0)], now: 1_000_000).isEmpty)
        publication.keep(only: ["b"])
        #expect(publication.count == 1)
        #expect(publication.due([(key: "a", value: 1.0)], now: 1_000_001).map(\.key) == ["a"])
    }

    @Test func aViewReadsBackOverTheOverlapKeepsTheNewestWriteAndForgetsTheStale() {
        var view = IncrementalView<String, Int>(overlap: 2)
        #expect(view.nextReadFrom == nil, "a first read takes every row it needs")
        view.take([(key: "a", value: 1, at: 100), (key: "b", value: 1, at: 101)], clock: 103, oldest: 98)
        #expect(view.nextReadFrom == 101, "back over the overlap, for rows racing the read")

        // b read again (unchanged), a newer a, an older write of b that committed late changes nothing.
        view.take([(key: "a", value: 2, at: 104), (key: "b", value: 1, at: 101), (key: "b", value: 0, at: 99)], clock: 105, oldest: 99)
        #expect(view.values == ["a": 2, "b": 1])
        #expect(view.nextReadFrom == 103)

        // b not written again: forgotten once its write is older than `oldest`.
        view.take([(key: "a", value: 3, at: 106)], clock: 110, oldest: 105)
        #expect(view.values == ["a": 3])
        #expect(view["b"] == nil)
        #expect(view.nextReadFrom == 108)
    }

    @Test func aReadWithAnOlderClockDoesNotMoveTheViewBack() {
        var view = IncrementalView<String, Int>(overlap: 1)
        view.take([], clock: 50, oldest: 0)
        view.take([], clock: 40, oldest: 0)
        #expect(view.readUpTo == 50)
    }
}
