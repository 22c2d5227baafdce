import CHearthProcess
import Foundation
public import HearthCore
public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps, in a small file in the agent's data folder, the engine process this agent runs, and at the agent's start
/// stops the engines an earlier run left running (it was SIGKILLed, or its guard was). ``EngineLeftoverPolicy``
/// decides; this shell reads `/proc`, signals through pidfds (never a pid that was reused meanwhile) and logs.
public struct EngineLeftoverReaper: Sendable {
    /// The record file, `<data-dir>/engine-processes` for `hearth node`.
    public var path: String
    /// How long a leftover gets between SIGTERM and SIGKILL.
    public var grace: Duration = .seconds(2)
    let logger: Logger

    /// Larger record files are read only this far: the file comes from disk, not from this process alone.
    static let maximumFileBytes = 64 * 1024

    public init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    /// What happened to one record.
    public struct Outcome: Sendable, Equatable {
        public var record: EngineProcessRecord
        public var verdict: EngineLeftoverPolicy.Verdict
        /// For a stopped engine: whether SIGTERM sufficed (false: it needed SIGKILL).
        public var stoppedBySIGTERM: Bool?
    }

    /// Stops every recorded leftover, then removes the file. Blocking work (waiting out a grace) runs on a Dispatch
    /// worker, not on a cooperative thread.
    @discardableResult
    public func reap() async -> [Outcome] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: reapNow()) }
        }
    }

    /// Writes down the engine this agent just started (replacing the previous record: one engine per agent at a time).
    public func remember(enginePID: Int32) {
        guard let me = ProcfsProcess.identity(of: getpid()), let engine = ProcfsProcess.identity(of: enginePID),
            let executable = ProcfsProcess.executable(of: enginePID),
            let line = EngineProcessRecord(engine: engine, executable: executable, agent: me).line
        else {
            logger.warning("cannot record the engine process for reaping", metadata: ["pid": "\(enginePID)"])
            return
        }
        do {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let temporary = path + ".new"
            try? FileManager.default.removeItem(atPath: temporary)
            guard
                FileManager.default.createFile(
                    atPath: temporary, contents: Data((line + "\n").utf8), attributes: [.posixPermissions: 0o600])
            else { throw EngineError("cannot write \(temporary)") }
            guard rename(temporary, path) == 0 else { throw EngineError("rename to \(path) failed: errno \(errno)") }
        } catch {
            logger.warning("cannot record the engine process for reaping", metadata: ["error": "\(error)"])
        }
    }

    /// Drops the record once the engine exited.
    public func forget() { unlink(path) }

    private func reapNow() -> [Outcome] {
        let records = EngineProcessRecord.records(in: Self.readBounded(path))
        guard !records.isEmpty else {
            unlink(path)
            return []
        }
        guard let me = ProcfsProcess.identity(of: getpid()) else { return [] }
        var outcomes: [Outcome] = []
        for record in records {
            // Open the pidfd first, then read the facts: if the pid was reused in between, the facts show the new
            // process (another start time: left alone) and the pidfd the old, dead one (signals reach nobody).
            let pidfd = hearth_pidfd_open(record.engine.pid)
            defer { if pidfd >= 0 { close(pidfd) } }
            let engine = pidfd >= 0 ? ProcfsProcess.observe(record.engine.pid) : .absent
            let verdict = EngineLeftoverPolicy.verdict(
                on: record, engine: engine, agent: ProcfsProcess.observe(record.agent.pid), me: me)
            var outcome = Outcome(record: record, verdict: verdict)
            if verdict == .stop {
                outcome.stoppedBySIGTERM = stop(pidfd: pidfd)
                logger.warning(
                    "stopped an engine an earlier run of this agent left running",
                    metadata: [
                        "pid": "\(record.engine.pid)", "executable": "\(record.executable)",
                        "signal": "\(outcome.stoppedBySIGTERM == true ? "SIGTERM" : "SIGKILL")",
                    ])
            } else {
                logger.debug("left a recorded engine process alone", metadata: ["pid": "\(record.engine.pid)", "verdict": "\(verdict)"])
            }
            outcomes.append(outcome)
        }
        unlink(path)
        return outcomes
    }

    /// SIGTERM, SIGKILL after the grace; true when SIGTERM sufficed.
    private func stop(pidfd: Int32) -> Bool {
        _ = hearth_pidfd_send_signal(pidfd, SIGTERM)
        let graceMilliseconds = Int32(clamping: grace.components.seconds * 1000 + grace.components.attoseconds / 1_000_000_000_000_000)
        if hearth_pidfd_wait_exit(pidfd, graceMilliseconds) == 1 { return true }
        _ = hearth_pidfd_send_signal(pidfd, SIGKILL)
        _ = hearth_pidfd_wait_exit(pidfd, 5_000)
        return false
    }

    /// At most ``maximumFileBytes`` of a regular file (a FIFO or a device at the path is not read), cut after its last
    /// complete line so that a truncated path never parses as a shorter one.
    static func readBounded(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return "" }
        var bytes = [UInt8](repeating: 0, count: maximumFileBytes)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            filled += count
        }
        guard let lastNewline = bytes[0..<filled].lastIndex(of: UInt8(ascii: "\n")) else { return "" }
        return String(decoding: bytes[0...lastNewline], as: UTF8.self)
    }
}
