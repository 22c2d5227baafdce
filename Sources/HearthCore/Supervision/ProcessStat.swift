/// The two facts of `/proc/PID/stat` that name a process and say whether it still runs: its state letter and its
/// start time. The second field (the command, in parentheses) may itself hold spaces and parentheses, so the fields
/// are counted from the *last* closing parenthesis.
public struct ProcessStat: Sendable, Equatable {
    /// `R`, `S`, `D`, `T`, `Z` (zombie: exited, not yet reaped), `X` (dead)…
    public var state: Character
    /// Field 22: start time in clock ticks after boot.
    public var startTicks: UInt64

    public init(state: Character, startTicks: UInt64) {
        self.state = state
        self.startTicks = startTicks
    }

    /// Whether the process has exited (a zombie or dead entry has nothing left to stop).
    public var hasExited: Bool { state == "Z" || state == "X" || state == "x" }

    /// Parses the file's text; nil when it is not a stat line.
    public init?(parsing text: String) {
        guard text.utf8.count <= 4096, let close = text.lastIndex(of: ")") else { return nil }
        // Fields 3 and on: field 3 (state) is the first, field 22 (start time) the 20th.
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 20, fields[0].count == 1, let state = fields[0].first,
            let ticks = UInt64(fields[19].trimmingTrailingNewline)
        else { return nil }
        self.init(state: state, startTicks: ticks)
    }
}

extension Substring {
    fileprivate var trimmingTrailingNewline: Substring { last == "\n" ? dropLast() : self }
}
