import HearthCore
import Testing

@Suite struct SSEEventScannerTests {
    /// Feeds `chunks` as a relay would: whole events are taken off the front of what is pending.
    static func relay(_ chunks: [String], field: SSEEventScanner.TextField = .content, limit: Int = 1 << 20)
        -> (relayed: String, pending: String, contentEvents: Int, overflowed: Bool)
    {
        var scanner = SSEEventScanner(field: field, maximumEventBytes: limit)
        var pending: [UInt8] = []
        var relayed: [UInt8] = []
        for chunk in chunks {
            pending += Array(chunk.utf8)
            guard let whole = pending.withUnsafeBytes({ scanner.wholeEvents(in: $0) }) else {
                return (String(decoding: relayed, as: UTF8.self), String(decoding: pending, as: UTF8.self), scanner.contentEvents, true)
            }
            relayed += pending[..<whole]
            pending.removeFirst(whole)
        }
        return (String(decoding: relayed, as: UTF8.self), String(decoding: pending, as: UTF8.self), scanner.contentEvents, false)
    }

    @Test func relaysWholeEventsOnlyAndCountsThoseWithText() {
        let role = #"data: {"choices":[{"delta":{"role":"assistant","content":""}}]}"# + "\n\n"
        let hello = #"data: {"choices":[{"delta":{"content":"Hel"}}]}"# + "\n\n"
        let spaced = #"data: {"choices":[{"delta":{"content": "lo"}}]}"# + "\n\n"
        let done = "data: [DONE]\n\n"
        let stream = role + hello + spaced + done
        // Split at every byte: boundaries that straddle frames are found exactly once.
        let result = Self.relay(stream.map { String($0) })
        #expect(result.relayed == stream)
        #expect(result.pending.isEmpty)
        #expect(result.contentEvents == 2)
    }

    @Test("events that end in CRLF blank lines are relayed one by one, not held until the stream ends")
    func crlfEventsAreWholeEvents() {
        let hello = #"data: {"choices":[{"delta":{"content":"Hel"}}]}"# + "\r\n\r\n"
        let lo = #"data: {"choices":[{"delta":{"content":"lo"}}]}"# + "\r\n\r\n"
        let partial = #"data: {"choices":[{"delta":{"content":"!"}}]}"# + "\r\n"
        // Byte by byte (a Character would keep "\r\n" together), so a boundary is split at every possible place.
        let result = Self.relay((hello + lo + partial).unicodeScalars.map { String($0) })
        #expect(result.relayed == hello + lo)
        #expect(result.pending == partial)
        #expect(result.contentEvents == 2)
        // A line ended by CRLF followed by one ended by LF is a blank line too, as the SSE grammar allows.
        #expect(Self.relay(["data: x\r\n\n", "data: y\n\r\n"]).relayed == "data: x\r\n\ndata: y\n\r\n")
    }

    @Test func aPartialEventWaitsForItsBlankLine() {
        let result = Self.relay(["data: {\"choices\":[{\"text\":\"a\"}]}\n\ndata: {\"cho", "ices\"", ":[]}\n"], field: .text)
        #expect(result.relayed == "data: {\"choices\":[{\"text\":\"a\"}]}\n\n")
        #expect(result.pending == "data: {\"choices\":[]}\n")
        #expect(result.contentEvents == 1)
    }

    @Test func reasoningAndNullContentAreNotAnswerText() {
        let events = [
            #"data: {"choices":[{"delta":{"reasoning_content":"x"}}]}"# + "\n\n",
            #"data: {"choices":[{"delta":{"content":null}}]}"# + "\n\n",
        ]
        #expect(Self.relay(events).contentEvents == 0)
    }

    @Test func anEventLongerThanTheLimitFailsInsteadOfGrowing() {
        let flood = Array(repeating: String(repeating: "x", count: 100), count: 20)
        let result = Self.relay(flood, limit: 1_000)
        #expect(result.overflowed)
        #expect(result.pending.utf8.count <= 1_100)
    }

    /// Each byte is looked at once: a flood without a boundary, fed a byte at a time, costs linear time. The bound
    /// is on work, counted by the scanner's own contract (`wholeEvents` resumes where it stopped), so 1 MiB fed a
    /// byte at a time finishes; a rescanning scanner would do 5 * 10^11 byte reads here and never would.
    @Test func aFloodWithoutBoundariesIsScannedOnce() {
        var scanner = SSEEventScanner(field: .content, maximumEventBytes: 1 << 21)
        var pending: [UInt8] = []
        pending.reserveCapacity(1 << 20)
        var relayedEarly = 0
        for _ in 0..<(1 << 20) {
            pending.append(UInt8(ascii: "x"))
            if pending.withUnsafeBytes({ scanner.wholeEvents(in: $0) }) != 0 { relayedEarly += 1 }
        }
        #expect(relayedEarly == 0)
    }

    static let callStart =
        #"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"weather","arguments":""}}]}}]}"#
        + "\n\n"
    static let callArguments =
        #"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}"# + "\n\n"
    static let callEnd =
        #"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]}}]}"# + "\n\n"
    static let callFinish = #"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"# + "\n\n"

    @Test("a tool call's events are held until its finish reason, then go out together")
    func toolCallsAreHeldUntilFinished() {
        let text = #"data: {"choices":[{"delta":{"content":"Checking."}}]}"# + "\n\n"
        let nulls = #"data: {"choices":[{"delta":{"content":"!","tool_calls":null}}]}"# + "\n\n"
        let empty = #"data: {"choices":[{"delta":{"content":"?","tool_calls": [ ]}}]}"# + "\n\n"
        let before = text + nulls + empty
        let call = Self.callStart + Self.callArguments + Self.callEnd
        // Cut off before the finish: only the text went out; the call is pending, whole, byte by byte or at once.
        for chunks in [[before + call], (before + call).map { String($0) }] {
            let cut = Self.relay(chunks)
            #expect(cut.relayed == before)
            #expect(cut.pending == call)
            #expect(cut.contentEvents == 3)
        }
        let finished = Self.relay((before + call + Self.callFinish + "data: [DONE]\n\n").map { String($0) })
        #expect(finished.relayed == before + call + Self.callFinish + "data: [DONE]\n\n")
        #expect(finished.pending.isEmpty)
        // Completions have no tool calls: nothing is held.
        let completion = Self.relay([call], field: .text)
        #expect(completion.relayed == call)
    }

    @Test("a tool call longer than the event limit goes out unfinished, and says so")
    func anOverlongToolCallIsReleased() {
        var scanner = SSEEventScanner(field: .content, maximumEventBytes: Self.callStart.utf8.count + 8)
        var pending = Array(Self.callStart.utf8)
        #expect(pending.withUnsafeBytes { scanner.wholeEvents(in: $0) } == 0)
        #expect(scanner.holdingToolCall)
        pending += Array(Self.callArguments.utf8)
        #expect(pending.withUnsafeBytes { scanner.wholeEvents(in: $0) } == pending.count)
        #expect(scanner.releasedUnfinishedToolCall)
        #expect(!scanner.holdingToolCall)
    }
}
