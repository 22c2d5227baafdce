import Foundation
import HearthCore

/// What `/proc` says about a process: the thin reading shell under ``EngineLeftoverPolicy``.
enum ProcfsProcess {
    /// The process's pid and start time, while it runs.
    static func identity(of pid: Int32) -> ProcessIdentity? {
        guard let stat = stat(of: pid), !stat.hasExited else { return nil }
        return ProcessIdentity(pid: pid, startTicks: stat.startTicks)
    }

    /// The process as the policy sees it: absent, or running with a start time and (if readable) its executable.
    static func observe(_ pid: Int32) -> EngineLeftoverPolicy.Observation {
        guard let stat = stat(of: pid), !stat.hasExited else { return .absent }
        return .running(startTicks: stat.startTicks, executable: executable(of: pid))
    }

    /// `/proc/PID/exe`; nil when unreadable (another user's process).
    static func executable(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
    }

    private static func stat(of pid: Int32) -> ProcessStat? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"), data.count <= 4096 else { return nil }
        return ProcessStat(parsing: String(decoding: data, as: UTF8.self))
    }
}
