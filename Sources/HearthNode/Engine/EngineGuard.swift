import CHearthProcess
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Starts an engine under `hearth-engine-guard` (Sources/hearth-engine-guard), so that the engine dies with this
/// agent even when the agent is SIGKILLed: the guard holds the read end of a pipe whose write end, the lifeline, only
/// this process has; when this process dies the kernel closes it, and the guard stops the engine.
enum EngineGuard {
    static let binaryName = "hearth-engine-guard"

    /// An engine running under its guard.
    struct Launched {
        /// The guard: its exit mirrors the engine's (same code, or killed by the same signal).
        var process: Process
        /// The engine itself (llama-server), which the guard reported.
        var enginePID: Int32
        var lifeline: Lifeline
    }

    /// The guard installed beside the running executable (`.build/<config>/` beside `hearth` and the test runner;
    /// `make release` and the install scripts copy both), or `explicit` when given.
    static func locate(explicit: String? = nil) throws -> String {
        if let explicit {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw EngineError("\(binaryName) is not an executable at \(explicit)")
            }
            return explicit
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let path = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent(binaryName).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw EngineError(
                "\(binaryName) is missing at \(path): it must sit beside \(executable) "
                    + "(swift build builds it; swift build --product \(binaryName) -c release for a release build)")
        }
        return path
    }

    /// Starts `binary arguments` under the guard at `guardPath`; `onExit` runs when the guard exits (Foundation's
    /// SIGCHLD source calls it: nothing waits on a thread). Returns once the guard reported the engine's pid, which
    /// it does as soon as the engine's exec succeeded. The engine's standard error goes to `errors` (nil: discarded).
    static func launch(
        guardPath: String, binary: String, arguments: [String], errors: FileHandle? = nil,
        onExit: @escaping @Sendable () -> Void
    ) async throws -> Launched {
        let lifeline = try Lifeline()
        // The pid report: close-on-exec on our side too, so no other child holds it open.
        var report: [Int32] = [-1, -1]
        guard hearth_pipe_cloexec(&report) == 0 else { throw EngineError("pipe2() failed: errno \(errno)") }
        let reportReader = report[0]
        let reportWriter = FileHandle(fileDescriptor: report[1], closeOnDealloc: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: guardPath)
        process.arguments = ["--", binary] + arguments
        // Foundation dup2s these onto 0 and 1 in the child (dup2 clears close-on-exec there) and closes every other
        // descriptor; the guard closes all above 2 again before it starts the engine.
        process.standardInput = lifeline.readEnd
        process.standardOutput = reportWriter
        process.standardError = errors ?? FileHandle.nullDevice
        process.terminationHandler = { _ in onExit() }
        do {
            try process.run()
        } catch {
            close(reportReader)
            throw EngineError("cannot start \(guardPath): \(error)")
        }
        // Our copies of the child's ends: while we held them, the guard's end of file could never come.
        lifeline.releaseReadEnd()
        try? reportWriter.close()
        guard let enginePID = await readPID(from: reportReader) else {
            throw EngineError("\(binaryName) could not start \(binary) (exec failed, or the guard died)")
        }
        return Launched(process: process, enginePID: enginePID, lifeline: lifeline)
    }

    /// Reads the guard's "PID\n" without holding a cooperative thread: the blocking read runs on a Dispatch worker.
    /// The guard writes it right after the engine's exec, or closes the pipe on failure; nil then.
    private static func readPID(from fd: Int32) async -> Int32? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                defer { close(fd) }
                var bytes: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 32)
                while bytes.count < 32, !bytes.contains(UInt8(ascii: "\n")) {
                    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if count < 0, errno == EINTR { continue }
                    guard count > 0 else { break }
                    bytes += buffer[0..<count]
                }
                let line = String(decoding: bytes.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
                let pid = Int32(line).flatMap { $0 > 1 ? $0 : nil }
                continuation.resume(returning: bytes.contains(UInt8(ascii: "\n")) ? pid : nil)
            }
        }
    }
}

/// The pipe on the guard's standard input. This process keeps the write end open and never writes; closing it (or
/// dying) tells the guard to stop the engine.
final class Lifeline: Sendable {
    let readEnd: FileHandle
    private let writeEnd: Mutex<Int32>

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard hearth_pipe_cloexec(&fds) == 0 else { throw EngineError("pipe2() failed: errno \(errno)") }
        readEnd = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        writeEnd = Mutex(fds[1])
    }

    /// Closes this process's copy of the guard's end once the guard has it.
    func releaseReadEnd() { try? readEnd.close() }

    /// Cuts the lifeline: the guard sends the engine SIGTERM, then SIGKILL after its grace.
    func cut() {
        let fd = writeEnd.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        if fd >= 0 { close(fd) }
    }

    deinit { cut() }
}
