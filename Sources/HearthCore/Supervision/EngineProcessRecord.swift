/// One engine process a node agent started, as the agent writes it down so that its next run can reap the engine if
/// the agent died without stopping it. A process is named by its pid *and* its start time (`/proc/PID/stat` field 22,
/// clock ticks since boot): pids are reused, the pair is not.
public struct EngineProcessRecord: Sendable, Equatable {
    public var engine: ProcessIdentity
    /// The engine's executable as `/proc/PID/exe` showed it when the agent started it.
    public var executable: String
    /// The agent that started it: while that agent lives, the engine is its own, not a leftover.
    public var agent: ProcessIdentity

    public init(engine: ProcessIdentity, executable: String, agent: ProcessIdentity) {
        self.engine = engine
        self.executable = executable
        self.agent = agent
    }

    /// The file's line for this record: `engine PID START AGENT_PID AGENT_START PATH`, the path last because it may
    /// hold spaces. Nil for a path the line could not carry back (a newline in it, or longer than the parser takes).
    public var line: String? {
        guard !executable.isEmpty, !executable.contains(where: \.isNewline), executable.utf8.count <= Self.maximumPathBytes
        else { return nil }
        return "engine \(engine.pid) \(engine.startTicks) \(agent.pid) \(agent.startTicks) \(executable)"
    }

    /// Longest path a record carries (Linux's PATH_MAX).
    public static let maximumPathBytes = 4096

    /// Parses one line; nil for anything malformed. The file lives in the agent's data folder, which others may have
    /// written: every field is checked, and a pid that `kill` would read as a group or as init is refused.
    public init?(line: Substring) {
        let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0] == "engine",
            let engine = ProcessIdentity(pid: fields[1], startTicks: fields[2]),
            let agent = ProcessIdentity(pid: fields[3], startTicks: fields[4])
        else { return nil }
        let path = fields[5]
        guard path.hasPrefix("/"), path.utf8.count <= Self.maximumPathBytes, !path.contains(where: \.isNewline) else {
            return nil
        }
        self.init(engine: engine, executable: String(path), agent: agent)
    }

    /// Every well-formed record in a file's text, at most `limit`; malformed lines are skipped, not fatal.
    public static func records(in text: String, limit: Int = 64) -> [EngineProcessRecord] {
        var records: [EngineProcessRecord] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard records.count < limit else { break }
            if let record = EngineProcessRecord(line: line) { records.append(record) }
        }
        return records
    }
}

/// A process as pid plus start time: the same pair never names two processes during one boot.
public struct ProcessIdentity: Sendable, Hashable {
    public var pid: Int32
    /// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks after boot.
    public var startTicks: UInt64

    public init(pid: Int32, startTicks: UInt64) {
        self.pid = pid
        self.startTicks = startTicks
    }

    /// From decimal text; nil unless the pid is above 1 (0 and -1 name groups to `kill`, 1 is init).
    init?(pid: Substring, startTicks: Substring) {
        guard pid.utf8.count <= 10, startTicks.utf8.count <= 20, pid.allSatisfy(\.isASCIIDigit),
            startTicks.allSatisfy(\.isASCIIDigit), let pid = Int32(pid), pid > 1, let ticks = UInt64(startTicks)
        else { return nil }
        self.init(pid: pid, startTicks: ticks)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
