import CHearthProcess
import Foundation
import HearthCore
import Testing

@testable import HearthNode

#if canImport(Glibc)
    import Glibc
#endif

/// Processes for the engine supervision tests: start them, read what they print, and await their end, always with a
/// bound and never by sleeping.
enum ChildProcesses {
    /// A binary built beside this test runner (`swift build --build-tests` builds every product into one folder).
    static func built(_ name: String) throws -> String {
        let runner = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let path = URL(fileURLWithPath: runner).deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw LlamaSupport.MissingEngine(message: "\(name) is missing at \(path): swift build --build-tests builds it")
        }
        return path
    }

    /// A pidfd on `pid` (opened before the process is told to die, so that a reused pid can never answer).
    static func pidfd(_ pid: Int32) throws -> Int32 {
        let fd = hearth_pidfd_open(pid)
        guard fd >= 0 else { throw LlamaSupport.MissingEngine(message: "pidfd_open(\(pid)) failed: errno \(errno)") }
        return fd
    }

    /// Waits, on a Dispatch worker, until the process behind `pidfd` exits or `timeout` passes; true when it exited.
    /// Closes the pidfd.
    static func exited(_ pidfd: Int32, within timeout: Duration) async -> Bool {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                defer { close(pidfd) }
                let milliseconds = Int32(clamping: timeout.components.seconds * 1000)
                continuation.resume(returning: hearth_pidfd_wait_exit(pidfd, milliseconds) == 1)
            }
        }
    }

    /// Whether `pid` names a live (not exited) process now.
    /// Kills `pid` with SIGKILL after `limit` unless cancelled first: a child that hangs fails its test instead of
    /// hanging it.
    static func killAfter(_ limit: Duration, _ pid: Int32) -> Task<Void, any Error> {
        Task {
            try await Task.sleep(for: limit)
            kill(pid, SIGKILL)
        }
    }

    static func isRunning(_ pid: Int32) -> Bool {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
            let stat = ProcessStat(parsing: String(decoding: data, as: UTF8.self))
        else { return false }
        return !stat.hasExited
    }

    /// `pid`'s identity (pid and start time) and executable, as the agent records an engine.
    static func identity(_ pid: Int32) throws -> (ProcessIdentity, executable: String) {
        let data = try #require(FileManager.default.contents(atPath: "/proc/\(pid)/stat"))
        let stat = try #require(ProcessStat(parsing: String(decoding: data, as: UTF8.self)))
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        return (ProcessIdentity(pid: pid, startTicks: stat.startTicks), executable)
    }

    /// Every process below `root` now, from the parent pids in `/proc/*/stat`.
    static func descendants(of root: Int32) -> [Int32] {
        var children: [Int32: [Int32]] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { continue }
            let text = String(decoding: data, as: UTF8.self)
            guard let close = text.lastIndex(of: ")") else { continue }
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = Int32(fields[1]) else { continue }
            children[parent, default: []].append(pid)
        }
        var found: [Int32] = []
        var queue = [root]
        while let next = queue.popLast() {
            for child in children[next] ?? [] {
                found.append(child)
                queue.append(child)
            }
        }
        return found
    }
}

/// A child process whose end the test awaits (Foundation's termination handler; no thread waits in a loop), and
/// whose output it reads line by line on a Dispatch worker.
final class WatchedProcess: Sendable {
    let process: Process
    private let ended = ReadyFlag()
    private let output: Pipe
    private let errors: Pipe

    /// Starts `path arguments` with SIGTERM blocked or not: a child inherits the signal mask of the thread that spawns
    /// it, and a test's threads block what they like, so the spawn runs on a thread of its own with a mask set.
    static func spawn(_ path: String, _ arguments: [String], sigtermBlocked: Bool) async throws -> WatchedProcess {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, SIGTERM)
                pthread_sigmask(sigtermBlocked ? SIG_BLOCK : SIG_UNBLOCK, &set, nil)
                continuation.resume(with: Result { try WatchedProcess(path, arguments) })
            }.start()
        }
    }

    /// Starts `path arguments`; standard input is `input` (nil: /dev/null).
    init(_ path: String, _ arguments: [String], input: FileHandle? = nil, environment: [String: String]? = nil) throws {
        process = Process()
        output = Pipe()
        errors = Pipe()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = input ?? FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        let ended = self.ended
        process.terminationHandler = { _ in ended.set() }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// How it ended, once it has.
    func termination() async -> (reason: Process.TerminationReason, status: Int32) {
        await ended.wait()
        return (process.terminationReason, process.terminationStatus)
    }

    /// Reads standard output (or error) until a line satisfies `match`; nil at end of file (the process closed it or
    /// died first). The caller bounds the wait by killing the process, which ends the file.
    func line(fromErrors: Bool = false, where match: @escaping @Sendable (String) -> Bool) async -> String? {
        let handle = (fromErrors ? errors : output).fileHandleForReading
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var pending = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { return continuation.resume(returning: nil) }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                        pending.removeSubrange(pending.startIndex...newline)
                        if match(line) { return continuation.resume(returning: line) }
                    }
                }
            }
        }
    }
}
