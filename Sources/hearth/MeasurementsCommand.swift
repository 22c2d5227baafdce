import ArgumentParser
import Foundation
import NIOHTTP1

/// `hearth measurements`: which agent, engine and model releases nodes may run, managed per release through a running
/// gateway's admin API, so that an upgrade is a staged roll-out: approve the new release's digest, upgrade the nodes
/// (each renews with it and stays trusted), retire the old digest.
struct MeasurementsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measurements",
        abstract: "List, approve or retire the software measurements (agent + engine + model digests) nodes may run.",
        discussion: """
            A node's measurement is the SHA-256 of its agent, engine and model digests (`hearth nodes show ID` prints it). \
            Approve a release's digest before upgrading nodes to it; retire the old one once they run the new one: a node \
            still on a retired digest is quarantined at its next certificate renewal, and none enrolls with it.
            """,
        subcommands: [List.self, Approve.self, Retire.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every measurement: allowed or not, why, and the nodes on it.")
        @OptionGroup var connection: NodesCommand.Connection
        @Flag(help: "Print the JSON array.") var json = false

        func run() async throws {
            let data = try await connection.call(.GET, "/admin/measurements")
            if json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("DIGEST".padding(toLength: 66, withPad: " ", startingAt: 0) + "ALLOWED  SOURCE      NODES  LABEL")
            for entry in (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? [] {
                let digest = (entry["digest"] as? String ?? "?").padding(toLength: 66, withPad: " ", startingAt: 0)
                let allowed = (entry["allowed"] as? Bool == true ? "yes" : "no").padding(toLength: 9, withPad: " ", startingAt: 0)
                let source = (entry["source"] as? String ?? "?").padding(toLength: 12, withPad: " ", startingAt: 0)
                let nodes = String((entry["nodes"] as? [String])?.count ?? 0).padding(toLength: 7, withPad: " ", startingAt: 0)
                print(digest + allowed + source + nodes + (entry["label"] as? String ?? ""))
            }
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let nodes enroll and renew running this measurement.")
        @OptionGroup var decision: Decision

        func run() async throws { try await decision.send("approve") }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop nodes running this measurement: quarantined at their next renewal, refused at enrollment.")
        @OptionGroup var decision: Decision

        func run() async throws { try await decision.send("retire") }
    }

    /// What `approve` and `retire` take: the digest and a label for the list and the audit log.
    struct Decision: ParsableArguments {
        @OptionGroup var connection: NodesCommand.Connection
        @Argument(help: "The measurement: 64 hex digits.") var digest: String
        @Option(help: "What it is or why, for the list and the audit log (a release's name).") var label: String = ""

        func send(_ action: String) async throws {
            _ = try await connection.call(.POST, "/admin/measurements/\(digest)/\(action)", body: ["label": label])
            print("\(action == "approve" ? "approved" : "retired") \(digest)")
        }
    }
}
