import Logging
import PostgresNIO

/// ``ReplicaRoll`` in the fleet's PostgreSQL database: one row per replica, stamped with the database's clock.
final class PostgresReplicaRoll: ReplicaRoll {
    /// The table, created by ``PostgresFleetStore``'s migrations (version 4).
    static let schema = ["CREATE TABLE gateway_replica (replica text PRIMARY KEY, seen_at double precision NOT NULL)"]

    private let client: PostgresClient
    private let logger: Logger

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// How long one announcement may take before the replica gives up on it (and keeps its last count).
    static let deadline = Duration.seconds(5)

    func announce(_ replica: String, window: Double) async throws -> Int {
        try await StoreDeadline.run(within: Self.deadline) { [client, logger] in
            try await Self.announce(replica, window: window, client, logger)
        }
    }

    private static func announce(_ replica: String, window: Double, _ client: PostgresClient, _ logger: Logger) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO gateway_replica (replica, seen_at) VALUES (\(replica), extract(epoch FROM clock_timestamp()))
                ON CONFLICT (replica) DO UPDATE SET seen_at = EXCLUDED.seen_at
                """, logger: logger)
            // Rows of replicas long gone are removed as they are found.
            try await connection.query(
                "DELETE FROM gateway_replica WHERE seen_at < extract(epoch FROM clock_timestamp()) - 3600", logger: logger)
            let rows = try await connection.query(
                "SELECT count(*) FROM gateway_replica WHERE seen_at >= extract(epoch FROM clock_timestamp()) - \(window)",
                logger: logger)
            for try await count in rows.decode(Int.self) { return max(1, count) }
            return 1
        }
    }

    func withdraw(_ replica: String) async throws {
        try await StoreDeadline.run(within: Self.deadline) { [client, logger] in
            _ = try await client.query("DELETE FROM gateway_replica WHERE replica = \(replica)", logger: logger)
        }
    }
}
