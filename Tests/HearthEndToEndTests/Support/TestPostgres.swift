import Foundation
import HearthGateway
import Synchronization

@testable import HearthNode

#if canImport(Glibc)
    import Glibc
#endif

/// A real PostgreSQL server for one test: Debian's binaries, a cluster initialised in a temporary folder, listening
/// on a loopback port the kernel picked and a socket in that folder; stopped and removed afterwards. As root (CI)
/// it runs as the `postgres` user, which PostgreSQL requires.
///
/// The server runs as this process's child (not daemonised by `pg_ctl`), so that its end is awaited like any
/// child's, and its readiness is read from what it prints, never polled.
final class TestPostgres: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let address: PostgresStoreAddress
    private let directory: String
    private let binaries: String
    private let runAs: String?
    private let server = Mutex<Process?>(nil)
    private let exited = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    private init(address: PostgresStoreAddress, directory: String, binaries: String, runAs: String?) {
        self.address = address
        self.directory = directory
        self.binaries = binaries
        self.runAs = runAs
    }

    /// Runs `body` with a fresh server and database, and stops the server whatever happens.
    static func with<Result>(_ body: (PostgresStoreAddress) async throws -> Result) async throws -> Result {
        let server = try await start()
        do {
            let result = try await body(server.address)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Where Debian puts a PostgreSQL version's programs (`/usr/lib/postgresql/N/bin`), the newest first.
    static func binaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw Failure(description: "PostgreSQL is not installed (apt-get install postgresql; scripts/bootstrap.sh does)")
    }

    private static func start() async throws -> TestPostgres {
        let binaries = try binaries()
        let directory = "/tmp/hearth-pg-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let runAs = getuid() == 0 ? "postgres" : nil
        if runAs != nil { try await run("/bin/chown", ["postgres:postgres", directory]) }
        let port = try FreePort.find()
        let server = TestPostgres(
            address: PostgresStoreAddress(host: "127.0.0.1", port: port, username: "hearth", database: "hearth", tls: .disable),
            directory: directory, binaries: binaries, runAs: runAs)
        try await run(
            server.command("initdb"),
            server.arguments("initdb", ["-D", "\(directory)/data", "-U", "hearth", "--auth=trust", "-E", "UTF8", "--no-sync"]))
        try await server.launch(port: port)
        try await run(
            server.command("createdb"), server.arguments("createdb", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "hearth", "hearth"]))
        return server
    }

    private func command(_ program: String) -> String { runAs == nil ? "\(binaries)/\(program)" : "/usr/sbin/runuser" }

    private func arguments(_ program: String, _ arguments: [String]) -> [String] {
        guard let runAs else { return arguments }
        return ["-u", runAs, "--", "\(binaries)/\(program)"] + arguments
    }

    /// Starts `postgres` and returns once it says it accepts connections.
    private func launch(port: Int) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command("postgres"))
        process.arguments = arguments(
            "postgres", ["-D", "\(directory)/data", "-p", "\(port)", "-k", directory, "-c", "listen_addresses=127.0.0.1"])
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let (lines, sink) = AsyncStream<String>.makeStream()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                sink.finish()
            } else {
                sink.yield(String(decoding: data, as: UTF8.self))
            }
        }
        process.terminationHandler = { [self] _ in
            sink.finish()
            let waiters = exited.withLock { state in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        try process.run()
        server.withLock { $0 = process }
        var printed = ""
        for await text in lines {
            printed += text
            if printed.contains("ready to accept connections") { return }
        }
        throw Failure(description: "postgres ended before it was ready: \(printed)")
    }

    /// Stops the server (a fast shutdown) and removes its folder.
    func stop() async {
        if let process = server.withLock({ $0 }), process.isRunning {
            // The postmaster itself: runuser waits for it and then exits too.
            if let pid = (try? String(contentsOfFile: "\(directory)/data/postmaster.pid", encoding: .utf8))?
                .split(separator: "\n").first.flatMap({ Int32($0) })
            {
                kill(pid, SIGINT)
            } else {
                process.interrupt()
            }
            await withCheckedContinuation { waiter in
                let done = exited.withLock { state in
                    if !state.done { state.waiters.append(waiter) }
                    return state.done
                }
                if done { waiter.resume() }
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a program to its end, off the cooperative pool (the termination handler resumes).
    private static func run(_ path: String, _ arguments: [String]) async throws {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-pg-\(UUID().uuidString).out").path
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        defer { try? output.close() }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.standardOutput = output
            process.standardError = output
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        guard status == 0 else {
            let printed = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw Failure(description: "\(path) \(arguments.joined(separator: " ")) failed (\(status)): \(printed)")
        }
    }
}
