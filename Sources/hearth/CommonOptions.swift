import ArgumentParser
import Foundation
import HearthGateway
import HearthLogging
import Logging

/// Logging options shared by the long-running commands.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "notice"

    @Option(help: "Log lines as text (for a terminal) or json (one object a line, for a log collector).")
    var logFormat: String = "text"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        guard LogFormat(rawValue: logFormat) != nil else { throw ValidationError("--log-format must be text or json") }
    }

    func bootstrap(label: String) -> Logger {
        (LogFormat(rawValue: logFormat) ?? .text).bootstrap(level: Logger.Level(rawValue: logLevel) ?? .notice)
        return Logger(label: label)
    }
}

/// The development API key that `hearth up` and `hearth gateway` keep in `<data-dir>/dev-api-key`.
enum DevAPIKey {
    /// Reads the key file, or creates it (mode 0600) with a fresh key; makes sure its hash is stored.
    static func loadOrCreate(dataDirectory: String, gateway: Gateway, override: String?) async throws -> (key: String, path: String) {
        let path = dataDirectory + "/dev-api-key"
        let key: String
        if let override {
            key = override
        } else if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            !existing.isEmpty
        {
            key = existing
        } else {
            key = "hearth-dev-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        }
        if !FileManager.default.fileExists(atPath: path) || override != nil {
            _ = FileManager.default.createFile(atPath: path, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600])
        }
        try await gateway.addAPIKey(key, tenant: "dev")
        return (key, path)
    }

    static func prepare(dataDirectory: String) throws {
        try FileManager.default.createDirectory(
            atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
}
