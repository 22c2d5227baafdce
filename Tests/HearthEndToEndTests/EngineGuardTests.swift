import Foundation
import Testing

@testable import HearthNode

#if canImport(Glibc)
    import Glibc
#endif

/// `hearth-engine-guard` on its own: the engine dies when the agent's lifeline closes or the guard is killed, signals
/// reach the engine, and the guard exits as the engine did. Each case launches through ``EngineGuard`` as the agent
/// does, with `sh` or `sleep` as the engine.
@Suite("Engine guard", .serialized)
struct EngineGuardTests {
    struct Run {
        var launched: EngineGuard.Launched
        var exited: ReadyFlag
        var engine: Int32

        func termination() async -> (Process.TerminationReason, Int32) {
            await exited.wait()
            return (launched.process.terminationReason, launched.process.terminationStatus)
        }
    }

    static func start(_ program: String, _ arguments: [String], errors: FileHandle? = nil) async throws -> Run {
        let exited = ReadyFlag()
        let launched = try await EngineGuard.launch(
            guardPath: try ChildProcesses.built(EngineGuard.binaryName), binary: program, arguments: arguments,
            errors: errors, onExit: { exited.set() })
        let watchdog = Self.watchdog(launched.process.processIdentifier)
        Task {
            await exited.wait()
            watchdog.cancel()
        }
        // No pidfd for an engine that already ended (a short script): its wait then never sees an exit.
        return Run(launched: launched, exited: exited, engine: (try? ChildProcesses.pidfd(launched.enginePID)) ?? -1)
    }

    /// Bounds a test's waits: a guard still running after a minute is SIGKILLed (its engine dies with it), which ends
    /// every wait on it with a failed expectation instead of a hang.
    static func watchdog(_ guardPID: Int32) -> Task<Void, any Error> {
        Task {
            try await Task.sleep(for: .seconds(60))
            kill(guardPID, SIGKILL)
        }
    }

    @Test("closing the guard's standard input (the agent died) stops the engine")
    func lifelineClosedStopsEngine() async throws {
        let run = try await Self.start("sleep", ["1000"])
        #expect(ChildProcesses.isRunning(run.launched.enginePID))
        run.launched.lifeline.cut()
        #expect(await ChildProcesses.exited(run.engine, within: .seconds(10)))
        // sleep dies of the SIGTERM, and the guard the same way.
        let (reason, status) = await run.termination()
        #expect(reason == .uncaughtSignal && status == SIGTERM)
    }

    @Test("an engine that ignores SIGTERM gets SIGKILL once the grace is over")
    func stubbornEngineIsKilled() async throws {
        let ready = Pipe()
        let script = "trap '' TERM; echo ready >&2; exec sleep 1000 2>/dev/null"
        let run = try await Self.start("sh", ["-c", script], errors: ready.fileHandleForWriting)
        try ready.fileHandleForWriting.close()
        // Cut only once the trap is set: the engine's own word on the standard error the guard passes through.
        try #require(await Self.firstLine(of: ready.fileHandleForReading) == "ready")
        run.launched.lifeline.cut()
        #expect(await ChildProcesses.exited(run.engine, within: .seconds(10)))
        let (reason, status) = await run.termination()
        #expect(reason == .uncaughtSignal && status == SIGKILL)
    }

    @Test("SIGTERM to the guard reaches the engine, and the guard exits with the engine's status")
    func sigtermIsForwarded() async throws {
        // The background sleep gets no copy of our pipe: its end of file must come when the shell exits.
        let script = "trap 'kill $s; exit 42' TERM; sleep 1000 2>/dev/null & s=$!; echo ready >&2; wait"
        let ready = Pipe()
        let exited = ReadyFlag()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ChildProcesses.built(EngineGuard.binaryName))
        process.arguments = ["--", "sh", "-c", script]
        let lifeline = Pipe()
        process.standardInput = lifeline
        process.standardOutput = FileHandle.nullDevice
        process.standardError = ready
        process.terminationHandler = { _ in exited.set() }
        try process.run()
        let watchdog = Self.watchdog(process.processIdentifier)
        defer { watchdog.cancel() }
        // The engine's own word that its trap is set: the guard gives it our standard error.
        let said = await Self.firstLine(of: ready.fileHandleForReading)
        try #require(said == "ready")
        process.terminate()
        await exited.wait()
        #expect(process.terminationReason == .exit && process.terminationStatus == 42)
        try lifeline.fileHandleForWriting.close()
    }

    @Test("a SIGKILLed guard takes its engine along (parent-death signal)")
    func killedGuardTakesEngine() async throws {
        let run = try await Self.start("sleep", ["1000"])
        kill(run.launched.process.processIdentifier, SIGKILL)
        #expect(await ChildProcesses.exited(run.engine, within: .seconds(10)))
        let (reason, status) = await run.termination()
        #expect(reason == .uncaughtSignal && status == SIGKILL)
    }

    @Test("the guard exits with the engine's exit code, and reports no pid for a program that cannot run")
    func exitCodesMirror() async throws {
        let exited = ReadyFlag()
        let launched = try await EngineGuard.launch(
            guardPath: try ChildProcesses.built(EngineGuard.binaryName), binary: "sh", arguments: ["-c", "exit 3"],
            onExit: { exited.set() })
        await exited.wait()
        #expect(launched.process.terminationReason == .exit && launched.process.terminationStatus == 3)
        await #expect(throws: EngineError.self) {
            try await EngineGuard.launch(
                guardPath: try ChildProcesses.built(EngineGuard.binaryName), binary: "/nonexistent/engine", arguments: [],
                onExit: {})
        }
    }

    @Test("one guard running does not delay seeing another's exit (the guard keeps Foundation's exit socket)")
    func exitsAreSeenWhileAnotherGuardRuns() async throws {
        let long = try await Self.start("sleep", ["1000"])
        let short = try await Self.start("sh", ["-c", "exit 5"])
        // Foundation waited for the first guard in a blocking waitpid when the guard closed its socket, and saw the
        // second exit only once the first ended (here: when the watchdog killed it a minute later).
        #expect(await short.termination() == (.exit, 5))
        #expect(ChildProcesses.isRunning(long.launched.enginePID))
        long.launched.lifeline.cut()
        #expect(await long.termination() == (.uncaughtSignal, SIGTERM))
    }

    @Test("a missing guard is a clear error")
    func missingGuard() {
        #expect(throws: EngineError.self) { try EngineGuard.locate(explicit: "/nonexistent/hearth-engine-guard") }
        #expect(throws: Never.self) { try EngineGuard.locate() }
    }

    static func firstLine(of handle: FileHandle) async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var bytes = Data()
                while !bytes.contains(UInt8(ascii: "\n")) {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    bytes.append(chunk)
                }
                continuation.resume(returning: String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.map(String.init))
            }
        }
    }
}
