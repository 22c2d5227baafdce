import ArgumentParser
import Foundation
import HearthGateway
import Logging

/// Which fleet store a command opens: SQLite in the data folder (the default), or a PostgreSQL database that several
/// gateways share (`--store postgres://...`).
struct FleetStoreOptions: ParsableArguments {
    @Option(
        help:
            "The fleet store: postgres://USER@HOST:PORT/DATABASE[?sslmode=disable|prefer|require], shared by the gateways of one fleet (password from HEARTH_STORE_PASSWORD or --store-password-file). Default: SQLite in the data folder."
    )
    var store: String?

    @Option(help: "File that holds the PostgreSQL password (instead of HEARTH_STORE_PASSWORD).")
    var storePasswordFile: String?

    func validate() throws {
        if store != nil { _ = try address() }
        if storePasswordFile != nil, store == nil { throw ValidationError("--store-password-file goes with --store postgres://...") }
    }

    /// The PostgreSQL address, with its password from the URL, the file or `HEARTH_STORE_PASSWORD`; nil for SQLite.
    func address() throws -> PostgresStoreAddress? {
        guard let store else { return nil }
        var address: PostgresStoreAddress
        do { address = try PostgresStoreAddress(url: store) } catch { throw ValidationError("--store: \(error)") }
        if address.password == nil {
            if let storePasswordFile {
                guard let text = try? String(contentsOfFile: storePasswordFile, encoding: .utf8) else {
                    throw ValidationError("--store-password-file: cannot read \(storePasswordFile)")
                }
                address.password = text.trimmingCharacters(in: .newlines)
            } else {
                address.password = ProcessInfo.processInfo.environment["HEARTH_STORE_PASSWORD"]
            }
        }
        return address
    }

    /// Opens the store (migrating it), runs `body`, and closes it.
    func withStore<Result: Sendable>(
        sqlitePath: String, logger: Logger, _ body: (any FleetStore) async throws -> Result
    ) async throws -> Result {
        guard let address = try address() else { return try await body(try SQLiteFleetStore(path: sqlitePath)) }
        return try await PostgresFleetStore.withStore(address, logger: logger) { try await body($0) }
    }

    /// A logger for commands that do not bootstrap logging: the store's errors only.
    static var quietLogger: Logger {
        var logger = Logger(label: "hearth.store")
        logger.logLevel = .error
        return logger
    }
}
