/// Finds whole server-sent events (ended by a blank line: `\n\n` or `\r\n\r\n`) in a node's stream as it arrives, in time proportional to the new bytes, and
/// counts the events that carry answer text.
///
/// The relay passes only whole events to the client (a node that dies mid-event never tears the client's stream),
/// so it holds the current partial event. Two things keep that safe against a hostile node: each byte is looked at
/// once (a flood of data without an event boundary is not rescanned on every frame), and a partial event longer
/// than ``maximumEventBytes`` fails the stream instead of growing without bound.
public struct SSEEventScanner: Sendable {
    /// The answer-text field of a chunk: `content` in a chat delta, `text` in a completion choice.
    public enum TextField: Sendable {
        case content, text

        var pattern: [UInt8] {
            switch self {
            case .content: Array(#""content":"#.utf8)
            case .text: Array(#""text":"#.utf8)
            }
        }
    }

    public let maximumEventBytes: Int
    private let pattern: [UInt8]
    /// Bytes at the start of the pending buffer already looked at.
    private var searched = 0
    private var lastByteWasNewline = false
    /// Events with non-empty answer text relayed so far: each holds at least one decoded token.
    public private(set) var contentEvents = 0

    public init(field: TextField, maximumEventBytes: Int) {
        pattern = field.pattern
        self.maximumEventBytes = max(1, maximumEventBytes)
    }

    /// `pending` holds the bytes not yet relayed: the previous call's partial event, then the new bytes. Returns how
    /// many bytes at its start are whole events (relay them and drop them from `pending` before the next call), or
    /// nil when the partial event that remains is longer than ``maximumEventBytes``.
    public mutating func wholeEvents(in pending: UnsafeRawBufferPointer) -> Int? {
        var eventStart = 0
        var newline = lastByteWasNewline
        var index = min(searched, pending.count)
        while index < pending.count {
            if pending[index] == UInt8(ascii: "\n") {
                if newline {
                    if Self.hasText(UnsafeRawBufferPointer(rebasing: pending[eventStart...index]), pattern: pattern) {
                        contentEvents += 1
                    }
                    eventStart = index + 1
                    newline = false
                } else {
                    newline = true
                }
            } else if pending[index] != UInt8(ascii: "\r") {
                // A carriage return neither ends nor continues a line here: `\r\n` line ends count as `\n`, so
                // an engine that ends its events with `\r\n\r\n` is relayed event by event, not at its end.
                newline = false
            }
            index += 1
        }
        lastByteWasNewline = newline
        searched = pending.count - eventStart
        return searched > maximumEventBytes ? nil : eventStart
    }

    /// Whether `bytes` (an event or a whole JSON answer) carries non-empty answer text in `field`.
    public static func hasText(_ bytes: UnsafeRawBufferPointer, field: TextField) -> Bool {
        hasText(bytes, pattern: field.pattern)
    }

    /// Whether `event` has `pattern` followed by a string value that is not empty (`"content":"x`, spaces allowed
    /// after the colon).
    static func hasText(_ event: UnsafeRawBufferPointer, pattern: [UInt8]) -> Bool {
        guard event.count > pattern.count, let first = pattern.first else { return false }
        var start = 0
        let last = event.count - pattern.count
        while start < last {
            if event[start] == first {
                var matched = 1
                while matched < pattern.count, event[start + matched] == pattern[matched] { matched += 1 }
                if matched == pattern.count {
                    var value = start + matched
                    while value < event.count, event[value] == UInt8(ascii: " ") { value += 1 }
                    if value + 1 < event.count, event[value] == UInt8(ascii: "\""), event[value + 1] != UInt8(ascii: "\"") {
                        return true
                    }
                }
            }
            start += 1
        }
        return false
    }
}
