public import Foundation

/// Where a PostgreSQL fleet store lives: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]`.
///
/// The password may also come from elsewhere (``password``): `hearth` reads `HEARTH_STORE_PASSWORD` or a file, so
/// that it stays out of process listings. `sslmode`: `disable`, `prefer` (the default: TLS when the server offers it),
/// `require` (TLS, the server's certificate checked against the system's roots), as libpq names them.
public struct PostgresStoreAddress: Sendable, Equatable {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String, tls: TLSMode = .prefer) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses a `postgres://` or `postgresql://` URL; the error says which part is wrong.
    public init(url text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else { throw ParseError(description: "a store URL starts with postgres://USER@HOST:PORT/DATABASE") }
        guard let host = components.host, !host.isEmpty else { throw ParseError(description: "the store URL names no host") }
        guard let user = components.user, !user.isEmpty else { throw ParseError(description: "the store URL names no user (USER@HOST)") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw ParseError(description: "the store URL names no database (postgres://USER@HOST:PORT/DATABASE)")
        }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw ParseError(description: "the store URL's port must be 1-65535") }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else { throw ParseError(description: "unknown store URL option \(item.name)") }
            guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                throw ParseError(description: "sslmode must be disable, prefer or require")
            }
            tls = mode
        }
        self.init(host: host, port: port, username: user, password: components.password, database: database, tls: tls)
    }
}
