/// Which recorded engine processes a node agent stops when it starts: the ones an earlier run of the agent left
/// running (it was killed before it could stop them). A record is acted on only when every fact matches, because a
/// wrong kill hits an unrelated process: pids are reused, the record file may be stale or written by someone else.
public enum EngineLeftoverPolicy {
    /// What the shell found at a record's pid, read after it opened a pidfd on it (so a signal sent later reaches
    /// this same process or none).
    public enum Observation: Sendable, Equatable {
        /// No process has that pid (or it has exited).
        case absent
        /// A live process: its start time and, if readable, its executable (`/proc/PID/exe`).
        case running(startTicks: UInt64, executable: String?)
    }

    public enum Verdict: Sendable, Equatable {
        /// Stop it: SIGTERM, then SIGKILL after a grace.
        case stop
        /// Leave it alone, for this reason.
        case leave(Reason)
    }

    public enum Reason: Sendable, Equatable {
        /// The engine already exited.
        case exited
        /// Another process now has the pid (different start time).
        case pidReused
        /// The pid's process runs another program, or one whose path the agent may not read.
        case otherExecutable
        /// The agent that started it still runs: it is that agent's engine, not a leftover.
        case ownerAlive
        /// The record names this very process.
        case isSelf
    }

    /// The verdict on one record. `engine` is what the pid shows now, `agent` what the recorded agent's pid shows;
    /// `me` is the process deciding.
    public static func verdict(
        on record: EngineProcessRecord, engine: Observation, agent: Observation, me: ProcessIdentity
    ) -> Verdict {
        if record.engine.pid == me.pid { return .leave(.isSelf) }
        guard case .running(let startTicks, let executable) = engine else { return .leave(.exited) }
        guard startTicks == record.engine.startTicks else { return .leave(.pidReused) }
        guard let executable, matches(executable, recorded: record.executable) else { return .leave(.otherExecutable) }
        // An agent that still runs owns its engine (a second agent on the same data folder, this very process
        // included): only an engine whose agent is gone is a leftover.
        if case .running(let agentStart, _) = agent, agentStart == record.agent.startTicks {
            return .leave(.ownerAlive)
        }
        return .stop
    }

    /// `/proc/PID/exe` shows " (deleted)" after the path once the binary was replaced, as an engine upgrade does
    /// while an old engine still runs.
    static func matches(_ executable: String, recorded: String) -> Bool {
        executable == recorded || executable == recorded + " (deleted)"
    }
}
