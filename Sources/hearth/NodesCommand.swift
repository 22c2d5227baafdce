import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// `hearth nodes`: operators' view of the fleet through a running gateway's admin API.
struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List, inspect, revoke, quarantine or release nodes, and make enrollment tokens (admin API of a running gateway).",
        subcommands: [List.self, Show.self, Revoke.self, Quarantine.self, Release.self, EnrollToken.self]
    )

    struct Connection: ParsableArguments {
        @Option(help: "The gateway's API.")
        var gateway: String = "http://127.0.0.1:8080"

        @Option(help: "Folder of the gateway's data (its operator-key is used unless --operator-key-file is given).")
        var dataDir: String = ".hearth"

        @Option(help: "File holding an operator key.")
        var operatorKeyFile: String?

        func key() throws -> String {
            let path = operatorKeyFile ?? dataDir + "/operator-key"
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
            commandName: "enroll-token", abstract: "A one-time token a new node enrolls with (hearth node --enroll-token).")
        @OptionGroup var connection: Connection

        func run() async throws {
            let data = try await connection.call(.POST, "/admin/enrollment-tokens")
            let token = ((try JSONSerialization.jsonObject(with: data)) as? [String: Any])?["token"] as? String ?? ""
            print(token)
        }
    }
}
