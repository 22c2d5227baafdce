import Foundation
package import HearthCore
package import HearthProtocol
import Logging
import PostgresNIO

/// ``PowerExchange`` in the fleet's PostgreSQL database: reports and limits in two tables, the coordinator's lease a
/// session advisory lock held on one connection. A coordinator that dies (process killed, machine gone) drops its
/// connection, PostgreSQL releases the lock, and the next replica to ask takes it: within one power period.
package final class PostgresPowerExchange: PowerExchange {
    /// The tables, created by ``PostgresFleetStore``'s migrations (version 3).
    static let schema: [String] = [
        "CREATE TABLE power_report (node_id text PRIMARY KEY, report_json text NOT NULL, at double precision NOT NULL)",
        "CREATE TABLE power_limit (node_id text PRIMARY KEY, limit_json text NOT NULL, at double precision NOT NULL)",
    ]
    /// An arbitrary constant, other than the migrations' lock: the coordinator's lease.
    static let leaseLock: Int64 = 0x4845_4152_5450

    private let client: PostgresClient
    private let logger: Logger

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// How long one exchange may take before the caller gives up on it (postgres-nio's pool never fails a query while
    /// it cannot connect: vapor/postgres-nio#489).
    static let deadline = Duration.seconds(5)

    package func publish(reports: [(key: NodeID, value: NodePowerReport)]) async throws {
        guard !reports.isEmpty else { return }
        let encoder = JSONEncoder()
        let ids = reports.map(\.key.rawValue)
        let documents = try reports.map { String(decoding: try encoder.encode($0.value), as: UTF8.self) }
        try await StoreDeadline.run(within: Self.deadline) { [client, logger] in
            _ = try await client.query(
                """
                INSERT INTO power_report (node_id, report_json, at)
                SELECT node, document, extract(epoch FROM clock_timestamp())
                FROM unnest(\(ids)::text[], \(documents)::text[]) AS r(node, document)
                ON CONFLICT (node_id) DO UPDATE SET report_json = EXCLUDED.report_json, at = EXCLUDED.at
                """, logger: logger)
        }
    }

    package func limits(for nodes: [NodeID], since: Double?) async throws -> (
        rows: [(key: NodeID, value: PowerLimit, at: Double)], clock: Double
    ) {
        let ids = nodes.map(\.rawValue)
        return try await StoreDeadline.run(within: Self.deadline) { [client, logger] in
            // One round trip for the clock and the rows, which may be none.
            let rows = try await client.query(
                """
                SELECT c.now, l.node_id, l.limit_json, l.at
                FROM (SELECT extract(epoch FROM clock_timestamp())::float8 AS now) c
                LEFT JOIN power_limit l ON l.node_id = ANY(\(ids)::text[]) AND l.at >= \(since ?? 0)
                """, logger: logger)
            return try await Self.decode(rows, as: PowerLimit.self)
        }
    }

    /// Rows of (store clock, node, document, write time); the clock comes with every row, or alone.
    fileprivate static func decode<Value: Decodable & Sendable>(_ rows: PostgresRowSequence, as: Value.Type) async throws -> (
        rows: [(key: NodeID, value: Value, at: Double)], clock: Double
    ) {
        var clock = 0.0
        var decoded: [(key: NodeID, value: Value, at: Double)] = []
        let decoder = JSONDecoder()
        for try await (now, node, document, at) in rows.decode((Double, String?, String?, Double?).self) {
            clock = now
            guard let node, let document, let at else { continue }
            // A row that does not decode is another version's: skipped, not fatal.
            if let value = try? decoder.decode(Value.self, from: Data(document.utf8)) { decoded.append((NodeID(node), value, at)) }
        }
        return (decoded, clock)
    }

    package func coordinate(_ body: (any PowerCoordinatorSession) async throws -> Void) async throws -> Bool {
        try await client.withConnection { [logger] connection in
            let session = Session(connection: connection, logger: logger)
            let acquired = try await session.bounded {
                let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Self.leaseLock))", logger: logger)
                var acquired = false
                for try await held in rows.decode(Bool.self) { acquired = held }
                return acquired
            }
            guard acquired else { return false }
            do {
                try await body(session)
            } catch {
                try? await session.bounded {
                    _ = try await connection.query("SELECT pg_advisory_unlock(\(Self.leaseLock))", logger: logger)
                }
                throw error
            }
            // Released on this connection before it goes back to the pool (where the lock would otherwise stay held).
            try await session.bounded { _ = try await connection.query("SELECT pg_advisory_unlock(\(Self.leaseLock))", logger: logger) }
            return true
        }
    }

    /// The lease's connection: the coordinator reads and writes on it, so a connection that broke (and with it the
    /// lock) fails the coordinator's next call instead of letting it publish beside a new coordinator. A call that
    /// outlives its deadline closes the connection, which gives up the lease at the database too.
    private struct Session: PowerCoordinatorSession {
        let connection: PostgresConnection
        let logger: Logger

        func bounded<Result: Sendable>(_ operation: @escaping @Sendable () async throws -> Result) async throws -> Result {
            do {
                return try await StoreDeadline.run(within: PostgresPowerExchange.deadline, operation)
            } catch let error as StoreDeadline.Exceeded {
                let connection = connection
                Task { try? await connection.close() }
                throw error
            }
        }

        func reports(since: Double?, lifetime: Double) async throws -> (
            rows: [(key: NodeID, value: NodePowerReport, at: Double)], clock: Double
        ) {
            try await bounded { [connection, logger] in
                let rows = try await connection.query(
                    """
                    SELECT c.now, r.node_id, r.report_json, r.at
                    FROM (SELECT extract(epoch FROM clock_timestamp())::float8 AS now) c
                    LEFT JOIN power_report r ON r.at >= greatest(\(since ?? 0)::float8, c.now - \(lifetime)::float8)
                    """, logger: logger)
                return try await PostgresPowerExchange.decode(rows, as: NodePowerReport.self)
            }
        }

        func publish(limits: [(key: NodeID, value: PowerLimit)]) async throws {
            guard !limits.isEmpty else { return }
            let encoder = JSONEncoder()
            let ids = limits.map(\.key.rawValue)
            let documents = try limits.map { String(decoding: try encoder.encode($0.value), as: UTF8.self) }
            try await bounded { [connection, logger] in
                _ = try await connection.query(
                    """
                    INSERT INTO power_limit (node_id, limit_json, at)
                    SELECT node, document, extract(epoch FROM clock_timestamp())
                    FROM unnest(\(ids)::text[], \(documents)::text[]) AS l(node, document)
                    ON CONFLICT (node_id) DO UPDATE SET limit_json = EXCLUDED.limit_json, at = EXCLUDED.at
                    """, logger: logger)
            }
        }
    }
}
