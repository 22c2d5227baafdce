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
        let hearth = try await WatchedProcess.spawn(
            try ChildProcesses.built("hearth"), command + ["--port", String(port), "--data-dir", directory.path], sigtermBlocked: false)
        // A command that hangs is killed: the test then fails on the signal.
        let watchdog = ChildProcesses.killAfter(.seconds(60), hearth.pid)
        defer { watchdog.cancel() }
        let error = await hearth.line(fromErrors: true) { $0.contains("Address already in use") }
        #expect(error != nil, "\(command[0]) printed no bind error")
        let end = await hearth.termination()
        #expect(end.reason == .exit && end.status == 1, "\(command[0]): \(end)")
    }
}
