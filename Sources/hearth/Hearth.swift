import ArgumentParser
import CHearthProcess

/// `hearth`: one executable for every part of Hearth.
@main
struct Hearth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hearth",
        abstract: "Run a fleet of home GPU nodes as one OpenAI-compatible inference cloud.",
        subcommands: [
            UpCommand.self, GatewayCommand.self, NodeCommand.self, ChatCommand.self, SimCommand.self, EnergyCommand.self, NodesCommand.self,
            MeasurementsCommand.self,
            KeysCommand.self, CACommand.self,
            // `hearth plan` is the planner's own name (issue 7); `hearth sim plan` is the same command.
            SimCommand.Plan.self,
        ]
    )

    /// Standard output is line-buffered even into a pipe (systemd's journal, a supervisor, a test): the banner a
    /// command prints once it serves must arrive when it is printed, not when the process exits.
    static func main() async {
        hearth_line_buffer_stdout()
        await main(nil)
    }
}
