import Foundation
import NIOCore
import NIOPosix
import Testing

/// A gateway whose port is taken ends with the error, at once, from `hearth up` and `hearth gateway` alike. It used
/// to wait for ever: its local nodes (and its banner) waited for addresses that never came, and the service group for
/// them, deaf to SIGTERM.
@Suite struct ListenerFailureTests {
    @Test(arguments: [["up", "--engine", "openai", "--engine-urls", "http://127.0.0.1:9", "--no-demo"], ["gateway"]])
    func aTakenPortEndsTheCommandWithTheError(command: [String]) async throws {
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        defer { holder.close(promise: nil) }
        let port = try #require(holder.localAddress?.port)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-taken-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-taken-\(UUID().uuidString).stderr")
        FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ChildProcesses.built("hearth"))
        process.arguments = command + ["--port", String(port), "--data-dir", directory.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        // A command that hangs is killed, and fails the test below on its signal.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(60))
            process.interrupt()
            try await Task.sleep(for: .seconds(5))
            kill(process.processIdentifier, SIGKILL)
        }
        defer { watchdog.cancel() }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                process.waitUntilExit()
                continuation.resume()
            }
        }
        let printed = try String(contentsOf: errors, encoding: .utf8)
        #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(command[0]): \(printed.suffix(2000))")
        #expect(printed.contains("Address already in use"), "\(command[0]): \(printed.suffix(2000))")
    }
}
