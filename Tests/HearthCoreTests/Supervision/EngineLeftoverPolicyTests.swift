import HearthCore
import Testing

/// An agent's next run stops the engines an earlier run left behind, and nothing else: pids are reused and the record
/// file is input from disk.
@Suite struct EngineLeftoverPolicyTests {
    static let me = ProcessIdentity(pid: 500, startTicks: 90_000)
    static let deadAgent = ProcessIdentity(pid: 400, startTicks: 1_000)
    static let engine = ProcessIdentity(pid: 401, startTicks: 1_050)
    static let path = "/home/a/.cache/hearth/bin/llama-server"
    static let record = EngineProcessRecord(engine: engine, executable: path, agent: deadAgent)

    static func verdict(
        engine: EngineLeftoverPolicy.Observation, agent: EngineLeftoverPolicy.Observation = .absent,
        record: EngineProcessRecord = record
    ) -> EngineLeftoverPolicy.Verdict {
        EngineLeftoverPolicy.verdict(on: record, engine: engine, agent: agent, me: me)
    }

    @Test func aLeftoverWhoseAgentDiedIsStopped() {
        #expect(Self.verdict(engine: .running(startTicks: 1_050, executable: Self.path)) == .stop)
        // The agent's pid now names another process: the recorded agent is gone all the same.
        #expect(
            Self.verdict(engine: .running(startTicks: 1_050, executable: Self.path), agent: .running(startTicks: 7, executable: nil))
                == .stop)
        // The engine binary was replaced (an upgrade) while the old engine ran.
        #expect(Self.verdict(engine: .running(startTicks: 1_050, executable: Self.path + " (deleted)")) == .stop)
    }

    @Test func aReusedPidIsNeverStopped() {
        #expect(Self.verdict(engine: .running(startTicks: 1_051, executable: Self.path)) == .leave(.pidReused))
        #expect(Self.verdict(engine: .running(startTicks: 0, executable: Self.path)) == .leave(.pidReused))
    }

    @Test func anotherProgramOrAnUnreadableOneIsNeverStopped() {
        #expect(Self.verdict(engine: .running(startTicks: 1_050, executable: "/usr/bin/sleep")) == .leave(.otherExecutable))
        #expect(Self.verdict(engine: .running(startTicks: 1_050, executable: nil)) == .leave(.otherExecutable))
        #expect(Self.verdict(engine: .running(startTicks: 1_050, executable: Self.path + "x")) == .leave(.otherExecutable))
    }

    @Test func anEngineWhoseAgentStillRunsIsThatAgents() {
        let live = EngineLeftoverPolicy.Observation.running(startTicks: 1_000, executable: "/usr/bin/hearth")
        #expect(Self.verdict(engine: .running(startTicks: 1_050, executable: Self.path), agent: live) == .leave(.ownerAlive))
        // Recorded by this very process (another engine of `hearth up` on a shared folder): not a leftover either.
        let mine = EngineProcessRecord(engine: Self.engine, executable: Self.path, agent: Self.me)
        let meRunning = EngineLeftoverPolicy.Observation.running(startTicks: Self.me.startTicks, executable: nil)
        #expect(
            Self.verdict(engine: .running(startTicks: 1_050, executable: Self.path), agent: meRunning, record: mine) == .leave(.ownerAlive))
    }

    @Test func goneEnginesAndThisProcessAreLeft() {
        #expect(Self.verdict(engine: .absent) == .leave(.exited))
        let selfRecord = EngineProcessRecord(engine: Self.me, executable: Self.path, agent: Self.deadAgent)
        #expect(
            Self.verdict(engine: .running(startTicks: Self.me.startTicks, executable: Self.path), record: selfRecord) == .leave(.isSelf))
    }

    @Test func aRecordSurvivesItsLine() throws {
        let spaced = EngineProcessRecord(engine: Self.engine, executable: "/opt/my engines/llama server", agent: Self.deadAgent)
        for record in [Self.record, spaced] {
            let line = try #require(record.line)
            #expect(EngineProcessRecord(line: Substring(line)) == record)
        }
        #expect(EngineProcessRecord(engine: Self.engine, executable: "/a\nengine 2 3 4 5 /b", agent: Self.deadAgent).line == nil)
        #expect(EngineProcessRecord(engine: Self.engine, executable: "", agent: Self.deadAgent).line == nil)
    }

    @Test func malformedAndDangerousLinesAreSkipped() {
        let text = """
            engine 401 1050 400 1000 /home/a/.cache/hearth/bin/llama-server
            engine -1 1050 400 1000 /bin/x
            engine 0 1050 400 1000 /bin/x
            engine 1 1050 400 1000 /bin/x
            engine 99999999999 1050 400 1000 /bin/x
            engine 402 -5 400 1000 /bin/x
            engine 402 1e3 400 1000 /bin/x
            engine +402 1050 400 1000 /bin/x
            engine ٤٠٢ 1050 400 1000 /bin/x
            engine 402 1050 400 1000 relative/path
            engine 402 1050 400 1000
            process 402 1050 400 1000 /bin/x
            engine  402 1050 400 1000 /bin/x
            garbage
            \u{0}\u{1}\u{2}
            engine 403 1060 400 1000 /bin/y
            """
        #expect(
            EngineProcessRecord.records(in: text) == [
                Self.record,
                EngineProcessRecord(engine: ProcessIdentity(pid: 403, startTicks: 1_060), executable: "/bin/y", agent: Self.deadAgent),
            ])
        let many = String(repeating: (Self.record.line ?? "") + "\n", count: 1_000)
        #expect(EngineProcessRecord.records(in: many, limit: 64).count == 64)
        let longPath = "/" + String(repeating: "a", count: EngineProcessRecord.maximumPathBytes)
        #expect(EngineProcessRecord(line: "engine 401 1050 400 1000 \(longPath)") == nil)
    }

    @Test func statLinesAreReadFromTheLastParenthesis() {
        // A command name with spaces and a ") R 1 2" inside it must not shift the fields.
        let fields3To22 = "S 1 401 401 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 1050"
        let stat = ProcessStat(parsing: "401 (llama) R 1 2 (x) \(fields3To22) 12345 67 18446744073709551615\n")
        #expect(stat == ProcessStat(state: "S", startTicks: 1_050))
        #expect(ProcessStat(parsing: "401 (z) Z 1 401 401 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77 0 0")?.hasExited == true)
        #expect(ProcessStat(parsing: "401 (short) S 1 2 3") == nil)
        #expect(ProcessStat(parsing: "no parenthesis at all") == nil)
        #expect(ProcessStat(parsing: "401 (x) SS 1 401 401 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 77") == nil)
    }
}
