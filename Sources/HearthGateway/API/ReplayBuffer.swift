import NIOCore

/// The events a client got from its first node, kept so that the answer can resume on another node if that one
/// fails: at most `limit` bytes. A longer answer is still relayed, but the buffer lets go of it (``overflowed``) and
/// the answer can no longer move.
struct ReplayBuffer {
    let limit: Int
    private(set) var bytes: [UInt8] = []
    private(set) var overflowed = false

    init(limit: Int) { self.limit = limit }

    mutating func append(_ events: ByteBuffer) {
        guard !overflowed, events.readableBytes > 0 else { return }
        guard bytes.count + events.readableBytes <= limit else {
            overflowed = true
            bytes = []
            return
        }
        bytes.append(contentsOf: events.readableBytesView)
    }

    /// What went out cannot be resumed (a tool call released unfinished): the answer must not move.
    mutating func forfeit() {
        overflowed = true
        bytes = []
    }
}
