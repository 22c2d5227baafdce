import HearthCore
import Testing

/// The node's relay of an engine answer never sends past the gateway's window, stops reading while bytes wait, and
/// sends the end only after them.
@Suite struct StreamSendWindowTests {
    @Test func bytesWithinTheWindowGoOutAtOnce() {
        var window = StreamSendWindow(credit: 100)
        let sent = window.read(60)
        #expect(sent == 60)
        #expect(window.readsSource)
        let ended = window.finish()
        #expect(ended)
        #expect(window.credit == 40)
    }

    @Test func bytesPastTheWindowWaitAndStopTheSourceUntilAGrant() {
        var window = StreamSendWindow(credit: 100)
        let first = window.read(70)
        let second = window.read(50)
        #expect(first == 70 && second == 30)
        #expect(window.held == 20)
        #expect(!window.readsSource)
        let partial = window.grant(5)
        #expect(partial.send == 5 && !partial.end)
        #expect(!window.readsSource)
        let rest = window.grant(100)
        #expect(rest.send == 15 && !rest.end)
        #expect(window.readsSource)
        #expect(window.credit == 85)
    }

    @Test func theEndWaitsBehindHeldBytes() {
        var window = StreamSendWindow(credit: 10)
        let sent = window.read(25)
        let ended = window.finish()
        #expect(sent == 10 && !ended)
        #expect(window.endHeld)
        let first = window.grant(10)
        #expect(first.send == 10 && !first.end)
        let second = window.grant(10)
        #expect(second.send == 5 && second.end)
        #expect(!window.endHeld)
        // The end goes out once only.
        let after = window.grant(10)
        #expect(after.send == 0 && !after.end)
    }

    @Test func hostileGrantsNeitherTrapNorShrinkTheWindow() {
        var window = StreamSendWindow(credit: 10)
        _ = window.grant(.max)
        _ = window.grant(.max)
        #expect(window.credit == .max)
        _ = window.grant(-5)
        #expect(window.credit == .max)
        let negative = window.read(-3)
        #expect(negative == 0)
        #expect(StreamSendWindow(credit: -1).credit == 0)
    }
}
