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
    /// Chat chunks: hold tool-call events back until the call is finished (see ``wholeEvents(in:)``).
    private let holdsToolCalls: Bool
    /// Bytes at the start of the pending buffer already looked at (held events included).
    private var searched = 0
    /// Bytes of whole events at the start of the pending buffer held back: a tool call not yet finished.
    private var held = 0
    private var lastByteWasNewline = false
    /// Events with non-empty answer text relayed so far: each holds at least one decoded token.
    public private(set) var contentEvents = 0
    /// A tool call's events are being held back (its finish reason has not come).
    public private(set) var holdingToolCall = false
    /// A tool call grew past ``maximumEventBytes`` unfinished and was let go before its end: a failover can no longer
    /// redo it whole, so the answer must not move.
    public private(set) var releasedUnfinishedToolCall = false

    public init(field: TextField, maximumEventBytes: Int) {
        pattern = field.pattern
        holdsToolCalls = field == .content
        self.maximumEventBytes = max(1, maximumEventBytes)
    }

    /// `pending` holds the bytes not yet relayed: what the previous call left (held events, then a partial event),
    /// then the new bytes. Returns how many bytes at its start may go to the client now (relay them and drop them
    /// from `pending` before the next call), or nil when the partial event that remains is longer than
    /// ``maximumEventBytes``.
    ///
    /// A streamed tool call cannot be continued from a prefix the way text can: a node lost halfway through one would
    /// leave the client half its arguments, and the next node would start the call again. So the events from a
    /// chat chunk that carries `tool_calls` up to the one with a finish reason (or `[DONE]`) stay in `pending`,
    /// whole, and go out together: an answer that moves mid-call loses only what the client never saw.
    public mutating func wholeEvents(in pending: UnsafeRawBufferPointer) -> Int? {
        var eventStart = min(held, pending.count)
        var releasable = 0
        var newline = lastByteWasNewline
        var index = min(searched, pending.count)
        while index < pending.count {
            if pending[index] == UInt8(ascii: "\n") {
                if newline {
                    let event = UnsafeRawBufferPointer(rebasing: pending[eventStart...index])
                    if Self.hasText(event, pattern: pattern) { contentEvents += 1 }
                    if holdsToolCalls && !releasedUnfinishedToolCall {
                        if !holdingToolCall, Self.hasNonEmptyArray(event, pattern: Self.toolCallsPattern) { holdingToolCall = true }
                        if holdingToolCall, Self.endsAnswer(event) { holdingToolCall = false }
                    }
                    eventStart = index + 1
                    if !holdingToolCall { releasable = eventStart }
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
        if eventStart - releasable > maximumEventBytes {
            // A call this long goes out unfinished rather than holding the client (and the gateway's memory) hostage.
            releasedUnfinishedToolCall = true
            holdingToolCall = false
            releasable = eventStart
        }
        lastByteWasNewline = newline
        held = eventStart - releasable
        searched = pending.count - releasable
        return pending.count - eventStart > maximumEventBytes ? nil : releasable
    }

    static let toolCallsPattern = Array(#""tool_calls":"#.utf8)
    static let finishReasonPattern = Array(#""finish_reason":"#.utf8)

    /// Whether `event` ends an answer: a finish reason that is a string, or `[DONE]`.
    static func endsAnswer(_ event: UnsafeRawBufferPointer) -> Bool {
        if let value = valueStart(event, after: finishReasonPattern), event[value] == UInt8(ascii: "\"") { return true }
        return firstIndex(of: donePattern, in: event) != nil || firstIndex(of: compactDonePattern, in: event) != nil
    }

    static let donePattern = Array("data: [DONE]".utf8)
    static let compactDonePattern = Array("data:[DONE]".utf8)

    /// Whether `event` has `pattern` followed by an array that is not empty (`"tool_calls":[{`, spaces allowed).
    static func hasNonEmptyArray(_ event: UnsafeRawBufferPointer, pattern: [UInt8]) -> Bool {
        guard let value = valueStart(event, after: pattern), event[value] == UInt8(ascii: "[") else { return false }
        let element = skippingSpaces(event, from: value + 1)
        return element < event.count && event[element] != UInt8(ascii: "]")
    }

    /// The index of the first byte after `pattern` and any spaces, where `pattern` first occurs in `event`.
    private static func valueStart(_ event: UnsafeRawBufferPointer, after pattern: [UInt8]) -> Int? {
        guard let found = firstIndex(of: pattern, in: event) else { return nil }
        let value = skippingSpaces(event, from: found + pattern.count)
        return value < event.count ? value : nil
    }

    private static func skippingSpaces(_ event: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        while index < event.count, event[index] == UInt8(ascii: " ") { index += 1 }
        return index
    }

    /// Where `pattern` next occurs in `event`, at `start` or after.
    private static func firstIndex(of pattern: [UInt8], in event: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        guard event.count >= pattern.count, let first = pattern.first else { return nil }
        var start = start
        while start <= event.count - pattern.count {
            if event[start] == first {
                var matched = 1
                while matched < pattern.count, event[start + matched] == pattern[matched] { matched += 1 }
                if matched == pattern.count { return start }
            }
            start += 1
        }
        return nil
    }

    /// Whether `bytes` (an event or a whole JSON answer) carries non-empty answer text in `field`.
    public static func hasText(_ bytes: UnsafeRawBufferPointer, field: TextField) -> Bool {
        hasText(bytes, pattern: field.pattern)
    }

    /// Whether `event` has `pattern` followed by a string value that is not empty (`"content":"x`, spaces allowed
    /// after the colon).
    static func hasText(_ event: UnsafeRawBufferPointer, pattern: [UInt8]) -> Bool {
        var from = 0
        while let found = firstIndex(of: pattern, in: event, from: from) {
            let value = skippingSpaces(event, from: found + pattern.count)
            if value + 1 < event.count, event[value] == UInt8(ascii: "\""), event[value + 1] != UInt8(ascii: "\"") { return true }
            from = found + 1
        }
        return false
    }
}
