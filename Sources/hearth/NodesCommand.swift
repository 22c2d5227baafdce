import ArgumentParser
import AsyncHTTPClient
import Foundation
import HearthIdentity
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// `hearth nodes`: operators' view of the fleet through a running gateway's admin API.
struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract:
            "List, inspect, revoke, quarantine, release or re-key nodes, make enrollment tokens, rotate the operator key (admin API of a running gateway).",
        subcommands: [
            List.self, Show.self, Revoke.self, Quarantine.self, Release.self, EnrollToken.self, Rekey.self, RotateOperatorKey.self,
        ]
    )

    struct Connection: ParsableArguments {
        @Option(help: "The gateway's API.")
        var gateway: String = "http://127.0.0.1:8080"

        @Option(help: "Folder of the gateway's data (its operator-key is used unless --operator-key-file is given).")
        var dataDir: String = ".hearth"

        @Option(help: "File holding an operator key.")
        var operatorKeyFile: String?

        var keyPath: String { operatorKeyFile ?? dataDir + "/operator-key" }

        func key() throws -> String {
            let path = keyPath
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("no operator key at \(path): pass --operator-key-file or --data-dir of the gateway")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// Calls the admin API; returns the JSON body or throws with the gateway's error message.
        func call(_ method: HTTPMethod, _ path: String, body: [String: Any]? = nil) async throws -> Data {
            var request = HTTPClientRequest(url: gateway + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(try key())")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
            }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let data = Data(buffer: try await response.body.collect(upTo: 16 << 20))
            guard response.status == .ok else {
                let message =
                    ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]).flatMap {
                        ($0["error"] as? [String: Any])?["message"] as? String
                    }
                    ?? String(decoding: data, as: UTF8.self)
                throw ValidationError("gateway answered \(response.status.code): \(message)")
            }
            return data
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every node with its state (connected, disconnected, quarantined, revoked).")
        @OptionGroup var connection: Connection
        @Flag(help: "Print the JSON array (id, state, models, last_heartbeat, ...).") var json = false

        func run() async throws {
            let data = try await connection.call(.GET, "/admin/nodes")
            if json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let nodes = (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
            print(
                "ID".padding(toLength: 24, withPad: " ", startingAt: 0) + "STATE".padding(toLength: 14, withPad: " ", startingAt: 0)
                    + "MODELS")
            for node in nodes {
                let id = (node["id"] as? String ?? "?").padding(toLength: 24, withPad: " ", startingAt: 0)
                let state = (node["state"] as? String ?? "?").padding(toLength: 14, withPad: " ", startingAt: 0)
                print(id + state + ((node["models"] as? [String]) ?? []).joined(separator: ","))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One node's record, as JSON.")
        @OptionGroup var connection: Connection
        @Argument(help: "Node id.") var node: String

        func run() async throws {
            print(String(decoding: try await connection.call(.GET, "/admin/nodes/\(node)"), as: UTF8.self))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a node: its key is refused for good; re-enrollment needs a new token.")
        @OptionGroup var connection: Connection
        @Argument(help: "Node id.") var node: String
        @Option(help: "Why (written to the audit log).") var reason: String = "operator"

        func run() async throws {
            print(
                String(decoding: try await connection.call(.POST, "/admin/nodes/\(node)/revoke", body: ["reason": reason]), as: UTF8.self))
        }
    }

    struct Quarantine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a node out of service until released.")
        @OptionGroup var connection: Connection
        @Argument(help: "Node id.") var node: String
        @Option(help: "Why (written to the audit log).") var reason: String = "operator"

        func run() async throws {
            print(
                String(
                    decoding: try await connection.call(.POST, "/admin/nodes/\(node)/quarantine", body: ["reason": reason]), as: UTF8.self))
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Return a quarantined node to service.")
        @OptionGroup var connection: Connection
        @Argument(help: "Node id.") var node: String

        func run() async throws {
            print(String(decoding: try await connection.call(.POST, "/admin/nodes/\(node)/release", body: [:]), as: UTF8.self))
        }
    }

    struct EnrollToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enroll-token",
            abstract: "A one-time token that enrolls one new node id (hearth node --node-id ID --enroll-token TOKEN).",
            discussion: "The token enrolls only the id it names, and only if the gateway has never seen it; see `rekey` otherwise.")
        @OptionGroup var connection: Connection
        @Option(help: "The node id the token enrolls (1-128 of A-Z a-z 0-9 . _ -).") var node: String
        @Option(help: "Where the node stands: home or data-centre.") var site: String = "home"

        func run() async throws {
            print(try await Self.token(connection: connection, node: node, site: site, rekey: false))
        }

        static func token(connection: Connection, node: String, site: String, rekey: Bool) async throws -> String {
            let data = try await connection.call(.POST, "/admin/enrollment-tokens", body: ["node": node, "site": site, "rekey": rekey])
            return ((try JSONSerialization.jsonObject(with: data)) as? [String: Any])?["token"] as? String ?? ""
        }
    }

    struct Rekey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A one-time token that puts a new key behind an existing, revoked, attested or data-centre node id.",
            discussion: "The node enrolls with it as with any token; its old key is revoked for good when it does.")
        @OptionGroup var connection: Connection
        @Argument(help: "Node id.") var node: String
        @Option(help: "Where the node stands: home or data-centre.") var site: String = "home"

        func run() async throws {
            print(try await EnrollToken.token(connection: connection, node: node, site: site, rekey: true))
        }
    }

    struct RotateOperatorKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-operator-key",
            abstract: "Replace every operator key with a new one, written to the operator key file (mode 0600).")
        @OptionGroup var connection: Connection

        func run() async throws {
            let data = try await connection.call(.POST, "/admin/operator-key/rotate")
            guard let key = ((try JSONSerialization.jsonObject(with: data)) as? [String: Any])?["operator_key"] as? String else {
                throw ValidationError("the gateway did not return a key")
            }
            do {
                try SecretFile.write(key + "\n", to: connection.keyPath)
                print("New operator key in \(connection.keyPath); every earlier key is revoked.")
            } catch {
                // The old key no longer works: never lose the new one.
                print(key)
                throw ValidationError("could not write \(connection.keyPath) (\(error)); the new key is printed above")
            }
        }
    }
}
