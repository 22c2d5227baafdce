/// The sending side of one stream's flow control, for a relay that must not block: how many of the bytes it holds
/// may go out now, and when to stop and resume reading from its source.
///
/// The node relays an engine's answer on the tunnel's event loop. When the gateway's window is spent it cannot wait;
/// it keeps the bytes it already read, stops reading from the engine (the engine's socket then pushes back), and
/// sends the rest when the gateway grants more. The end of the answer waits behind the bytes still held, so the
/// gateway never sees an end before the data that precedes it.
public struct StreamSendWindow: Sendable, Equatable {
    /// Bytes the gateway still lets this stream send.
    public private(set) var credit: Int
    /// Bytes read from the source and not yet sent.
    public private(set) var held = 0
    /// The source ended while bytes were held: the end goes out once they have.
    public private(set) var endHeld = false

    public init(credit: Int) {
        self.credit = max(0, credit)
    }

    /// Whether the relay may read more from its source: only while nothing waits for credit.
    public var readsSource: Bool { held == 0 }

    /// `bytes` more were read. Returns how many of the held bytes (oldest first) to send now.
    public mutating func read(_ bytes: Int) -> Int {
        held += max(0, bytes)
        return release()
    }

    /// The gateway granted `bytes` more. Returns how many held bytes to send now, and whether the held end goes too.
    public mutating func grant(_ bytes: Int) -> (send: Int, end: Bool) {
        // A grant that would overflow is a broken peer; the window saturates instead of trapping.
        let (sum, overflow) = credit.addingReportingOverflow(max(0, bytes))
        credit = overflow ? Int.max : sum
        let send = release()
        let end = endHeld && held == 0
        if end { endHeld = false }
        return (send, end)
    }

    /// The source ended. Returns whether the end goes out now (false: it waits for the held bytes).
    public mutating func finish() -> Bool {
        guard held > 0 else { return true }
        endHeld = true
        return false
    }

    private mutating func release() -> Int {
        let send = min(held, credit)
        held -= send
        credit -= send
        return send
    }
}
