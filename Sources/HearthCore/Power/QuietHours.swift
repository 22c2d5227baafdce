/// A daily window of local time in which the host wants its node quiet (fans low, little heat): the node then draws
/// no more than its floor, host and GPUs at their minimum, and keeps serving. Written `HH:MM-HH:MM`; a window that
/// ends before it starts runs over midnight (`22:00-07:00`); equal ends mean no window.
public struct QuietHours: Sendable, Hashable, CustomStringConvertible {
    /// Minutes after local midnight, 0..<1440.
    public let startMinute: Int
    public let endMinute: Int

    public init?(startMinute: Int, endMinute: Int) {
        guard (0..<1440).contains(startMinute), (0..<1440).contains(endMinute) else { return nil }
        self.startMinute = startMinute
        self.endMinute = endMinute
    }

    /// `HH:MM-HH:MM` (24-hour, two digits each); nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Self.minute(parts[0]), let end = Self.minute(parts[1]) else { return nil }
        self.init(startMinute: start, endMinute: end)
    }

    private static func minute(_ text: Substring) -> Int? {
        let fields = text.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 2, fields.allSatisfy({ $0.count == 2 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let hour = Int(fields[0]), let minute = Int(fields[1]), hour < 24, minute < 60
        else { return nil }
        return hour * 60 + minute
    }

    /// Whether `minuteOfDay` (0..<1440, local) falls in the window: its start is in, its end is not.
    public func contains(minuteOfDay: Int) -> Bool {
        if startMinute == endMinute { return false }
        if startMinute < endMinute { return minuteOfDay >= startMinute && minuteOfDay < endMinute }
        return minuteOfDay >= startMinute || minuteOfDay < endMinute
    }

    public var description: String {
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(two(startMinute / 60)):\(two(startMinute % 60))-\(two(endMinute / 60)):\(two(endMinute % 60))"
    }
}
