import Foundation
import HearthCore
import HearthProtocol
import Logging
import PostgresNIO

/// ``PowerExchange`` in the fleet's PostgreSQL database: reports and limits in two tables, the coordinator's lease a
/// session advisory lock held on one connection. A coordinator that dies (process killed, machine gone) drops its
/// connection, PostgreSQL releases the lock, and the next replica to ask takes it: within one power period.
final class PostgresPowerExchange: PowerExchange {
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

    func publish(reports: [(node: NodeID, report: NodePowerReport)], at: Double) async throws {
        guard !reports.isEmpty else { return }
        let encoder = JSONEncoder()
        let ids = reports.map(\.node.rawValue)
        let documents = try reports.map { String(decoding: try encoder.encode($0.report), as: UTF8.self) }
        try await client.query(
            """
            INSERT INTO power_report (node_id, report_json, at)
            SELECT node, document, \(at) FROM unnest(\(ids)::text[], \(documents)::text[]) AS r(node, document)
            ON CONFLICT (node_id) DO UPDATE SET report_json = EXCLUDED.report_json, at = EXCLUDED.at
            """, logger: logger)
    }

    func limits(for nodes: [NodeID]) async throws -> [NodeID: PowerLimit] {
        guard !nodes.isEmpty else { return [:] }
        let rows = try await client.query(
            "SELECT node_id, limit_json FROM power_limit WHERE node_id = ANY(\(nodes.map(\.rawValue))::text[])", logger: logger)
        var limits: [NodeID: PowerLimit] = [:]
        let decoder = JSONDecoder()
        for try await (node, document) in rows.decode((String, String).self) {
            if let limit = try? decoder.decode(PowerLimit.self, from: Data(document.utf8)) { limits[NodeID(node)] = limit }
        }
        return limits
    }

    func coordinate(_ body: (any PowerCoordinatorSession) async throws -> Void) async throws -> Bool {
        try await client.withConnection { connection in
            let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Self.leaseLock))", logger: logger)
            var acquired = false
            for try await held in rows.decode(Bool.self) { acquired = held }
            guard acquired else { return false }
            do {
                try await body(Session(connection: connection, logger: logger))
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.leaseLock))", logger: logger)
                throw error
            }
            // Released on this connection before it goes back to the pool (where the lock would otherwise stay held).
            try await connection.query("SELECT pg_advisory_unlock(\(Self.leaseLock))", logger: logger)
            return true
        }
    }

    /// The lease's connection: the coordinator reads and writes on it, so a connection that broke (and with it the
    /// lock) fails the coordinator's next call instead of letting it publish beside a new coordinator.
    private struct Session: PowerCoordinatorSession {
        let connection: PostgresConnection
        let logger: Logger

        func reports(since: Double) async throws -> [(node: NodeID, report: NodePowerReport)] {
            let rows = try await connection.query(
                "SELECT node_id, report_json FROM power_report WHERE at >= \(since) ORDER BY node_id", logger: logger)
            var reports: [(node: NodeID, report: NodePowerReport)] = []
            let decoder = JSONDecoder()
            for try await (node, document) in rows.decode((String, String).self) {
                if let report = try? decoder.decode(NodePowerReport.self, from: Data(document.utf8)) {
                    reports.append((NodeID(node), report))
                }
            }
            return reports
        }

        func publish(limits: [(node: NodeID, limit: PowerLimit)], at: Double) async throws {
            guard !limits.isEmpty else { return }
            let encoder = JSONEncoder()
            let ids = limits.map(\.node.rawValue)
            let documents = try limits.map { String(decoding: try encoder.encode($0.limit), as: UTF8.self) }
            try await connection.query(
                """
                INSERT INTO power_limit (node_id, limit_json, at)
                SELECT node, document, \(at) FROM unnest(\(ids)::text[], \(documents)::text[]) AS l(node, document)
                ON CONFLICT (node_id) DO UPDATE SET limit_json = EXCLUDED.limit_json, at = EXCLUDED.at
                """, logger: logger)
        }
    }
}
