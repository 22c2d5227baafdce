import ArgumentParser

/// `hearth`: one executable for every part of Hearth.
@main
struct Hearth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hearth",
        abstract: "Run a fleet of home GPU nodes as one OpenAI-compatible inference cloud.",
        subcommands: [
            UpCommand.self, GatewayCommand.self, NodeCommand.self, ChatCommand.self, SimCommand.self, EnergyCommand.self, NodesCommand.self,
            KeysCommand.self, CACommand.self,
            // `hearth plan` is the planner's own name (issue 7); `hearth sim plan` is the same command.
            SimCommand.Plan.self,
        ]
    )
}
