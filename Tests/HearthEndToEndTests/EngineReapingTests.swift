import Foundation
import HearthCore
import Logging
import Testing

@testable import HearthNode

#if canImport(Glibc)
    import Glibc
#endif

/// Engines die with their agent: a SIGKILLed `hearth up` leaves no engine running, and an agent's start stops what a
/// dead earlier run left (and nothing whose start time differs: pids are reused).
@Suite("Engine reaping", .serialized)
struct EngineReapingTests {
    /// A pid above Linux's PID_MAX_LIMIT (2^22): no process ever has it, so a record naming it as its agent names a
    /// dead agent.
    static let deadAgent = ProcessIdentity(pid: 4_194_305, startTicks: 1)

    static func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-reap-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `sleep 1000` as a stand-in engine, and the record line an agent that died would have left for it.
    static func leftover(
        startTicksOffset: UInt64 = 0, agent: ProcessIdentity = deadAgent, sigtermBlocked: Bool = false
    ) async throws -> (WatchedProcess, line: String) {
        let sleeper = try await WatchedProcess.spawn("/bin/sleep", ["1000"], sigtermBlocked: sigtermBlocked)
        let (identity, executable) = try ChildProcesses.identity(sleeper.pid)
        let engine = ProcessIdentity(pid: identity.pid, startTicks: identity.startTicks + startTicksOffset)
        let line = try #require(EngineProcessRecord(engine: engine, executable: executable, agent: agent).line)
        return (sleeper, line)
    }

    @Test("the reaper stops a leftover whose agent died and leaves a reused pid and a live agent's engine alone")
    func reaperStopsOnlyTrueLeftovers() async throws {
        let folder = try Self.folder()
        let me = try ChildProcesses.identity(getpid()).0
        let (orphan, orphanLine) = try await Self.leftover()
        let (stubborn, stubbornLine) = try await Self.leftover(sigtermBlocked: true)
        let (reused, reusedLine) = try await Self.leftover(startTicksOffset: 1)
        let (owned, ownedLine) = try await Self.leftover(agent: me)
        defer { for process in [orphan, stubborn, reused, owned] { kill(process.pid, SIGKILL) } }
        let exits = try [orphan, stubborn].map { try ChildProcesses.pidfd($0.pid) }
        let file = folder + "/engine-processes"
        let text = [orphanLine, "engine -1 5 6 7 /bin/sh", stubbornLine, reusedLine, "garbage", ownedLine].joined(separator: "\n") + "\n"
        try text.write(toFile: file, atomically: true, encoding: .utf8)

        var reaper = EngineLeftoverReaper(path: file, logger: Logger(label: "test"))
        reaper.grace = .milliseconds(300)
        let outcomes = await reaper.reap()

        #expect(outcomes.map(\.verdict) == [.stop, .stop, .leave(.pidReused), .leave(.ownerAlive)])
        #expect(outcomes.map(\.stoppedBySIGTERM) == [true, false, nil, nil])
        for exit in exits { #expect(await ChildProcesses.exited(exit, within: .seconds(10))) }
        #expect(await orphan.termination() == (.uncaughtSignal, SIGTERM))
        #expect(await stubborn.termination() == (.uncaughtSignal, SIGKILL))
        #expect(ChildProcesses.isRunning(reused.pid))
        #expect(ChildProcesses.isRunning(owned.pid))
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test("a record file that is a FIFO, huge or cut mid-line is read safely")
    func hostileRecordFiles() async throws {
        let folder = try Self.folder()
        let fifo = folder + "/fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        // Opening a FIFO for reading would block forever; the reaper does not read one.
        #expect(EngineLeftoverReaper.readBounded(fifo) == "")
        let (sleeper, line) = try await Self.leftover()
        defer { kill(sleeper.pid, SIGKILL) }
        // The one true record sits past the size bound: it is not read, and nothing is stopped.
        let huge = folder + "/huge"
        let filler = String(repeating: "x", count: EngineLeftoverReaper.maximumFileBytes) + "\n"
        try (filler + line + "\n").write(toFile: huge, atomically: true, encoding: .utf8)
        #expect(await EngineLeftoverReaper(path: huge, logger: Logger(label: "test")).reap().isEmpty)
        // A line cut short (no newline) never parses as a shorter path.
        let cut = folder + "/cut"
        try String(line.dropLast(3)).write(toFile: cut, atomically: true, encoding: .utf8)
        #expect(EngineLeftoverReaper.readBounded(cut) == "")
        #expect(ChildProcesses.isRunning(sleeper.pid))
    }

    @Test("SIGKILL to hearth up leaves no engine running, and its start stopped the leftover of an earlier run")
    func sigkilledAgentLeavesNoEngine() async throws {
        _ = try LlamaSupport.configuration()
        let hearth = try ChildProcesses.built("hearth")
        let data = try Self.folder()
        // What a SIGKILLed earlier run of node-1 would have left: its record, and a live process it names.
        let (leftover, leftoverLine) = try await Self.leftover()
        let (stranger, strangerLine) = try await Self.leftover(startTicksOffset: 1)
        defer { for process in [leftover, stranger] { kill(process.pid, SIGKILL) } }
        let leftoverExit = try ChildProcesses.pidfd(leftover.pid)
        try FileManager.default.createDirectory(atPath: data + "/nodes/node-1", withIntermediateDirectories: true)
        try (leftoverLine + "\n" + strangerLine + "\n").write(
            toFile: data + "/nodes/node-1/engine-processes", atomically: true, encoding: .utf8)

        var environment = ProcessInfo.processInfo.environment
        environment["HEARTH_CACHE"] = LlamaSupport.cache
        let agent = try WatchedProcess(
            hearth,
            ["up", "--port", "0", "--nodes", "1", "--slots", "1", "--no-demo", "--data-dir", data, "--log-level", "error"],
            environment: environment)
        // Bounds every wait below: a hung start is killed, which ends its output and fails the test.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(180))
            kill(agent.pid, SIGKILL)
        }
        defer { watchdog.cancel() }
        let up = await agent.line { $0.hasPrefix("Hearth is up") }
        try #require(up != nil, "hearth up did not come up")

        #expect(await ChildProcesses.exited(leftoverExit, within: .seconds(10)), "the earlier run's engine still runs")
        #expect(ChildProcesses.isRunning(stranger.pid), "a process whose start time differs was stopped")

        let below = ChildProcesses.descendants(of: agent.pid)
        let engines = below.filter { (try? ChildProcesses.identity($0).executable.hasSuffix("/llama-server")) == true }
        try #require(engines.count == 1, "expected one llama-server below hearth up, found \(below)")
        let watched = try below.map { try ChildProcesses.pidfd($0) }

        kill(agent.pid, SIGKILL)
        #expect(await agent.termination() == (.uncaughtSignal, SIGKILL))
        for (pid, pidfd) in zip(below, watched) {
            #expect(await ChildProcesses.exited(pidfd, within: .seconds(10)), "process \(pid) outlived its SIGKILLed agent")
        }
    }
}
