import ArgumentParser
import Foundation
import HearthIdentity

/// `hearth ca`: the fleet's root, kept offline, and one intermediate per gateway replica (issue 14).
struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Make the fleet's root certificate authority (kept offline) and an intermediate for each gateway replica.",
        subcommands: [Init.self, Intermediate.self]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new fleet root (ca-key.pem, 0600, and ca-cert.pem) in a folder to keep offline.")

        @Option(help: "Folder for the root's key and certificate.")
        var dir: String

        func run() throws {
            guard !FileManager.default.fileExists(atPath: dir + "/ca-key.pem") else {
                throw ValidationError("\(dir)/ca-key.pem exists already: a fleet keeps its root")
            }
            try FleetCertificateAuthority.create().store(in: dir)
            print("Fleet root in \(dir): keep ca-key.pem offline; give nodes ca-cert.pem (enrollment does).")
        }
    }

    struct Intermediate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Sign an intermediate for one gateway replica into its identity folder (<data-dir>/identity): it enrolls and renews nodes, which trust the root."
        )

        @Option(help: "Folder of the fleet root (hearth ca init).")
        var rootDir: String

        @Option(help: "The replica's identity folder (<its --data-dir>/identity).")
        var out: String

        @Option(help: "The intermediate's name (the replica or region).")
        var name: String

        @Option(help: "Days the intermediate is valid.")
        var days: Int = 365

        func run() throws {
            guard (1...3650).contains(days) else { throw ValidationError("--days must be 1-3650") }
            guard !FileManager.default.fileExists(atPath: out + "/ca-key.pem") else {
                throw ValidationError("\(out)/ca-key.pem exists already: this replica has its authority")
            }
            guard FileManager.default.fileExists(atPath: rootDir + "/ca-key.pem") else {
                throw ValidationError("\(rootDir) holds no fleet root (hearth ca init --dir \(rootDir))")
            }
            let root = try FleetCertificateAuthority.loadOrCreate(directory: rootDir)
            guard !root.isIntermediate else { throw ValidationError("\(rootDir) holds an intermediate, not the fleet root") }
            try root.issueIntermediate(name: name, lifetime: TimeInterval(days) * 86_400).store(in: out)
            print("Intermediate '\(name)' in \(out), chained to the root in \(rootDir).")
        }
    }
}
