package import Foundation
import Synchronization
package import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A real `mosquitto` broker for tests: its own temp directory, config, password file and (optionally) TLS
/// certificates made with the `openssl` CLI; bound to 127.0.0.1 on a free port. ``start(_:)`` returns once the
/// port accepts connections; ``stop()`` (or deinit) terminates it and removes the directory.
///
/// Use it per suite with the ``MosquittoBrokerTrait`` (`@Suite(.mosquittoBroker())`) and read
/// ``MosquittoBroker/current`` in the tests.
package final class MosquittoBroker: Sendable {
    package struct Options: Sendable {
        /// Accounts in the password file; the broker refuses anonymous clients.
        package var users: [String: String] = [MosquittoBroker.username: MosquittoBroker.password]
        /// Serve MQTT over TLS with a fresh CA and a server certificate for `localhost` / 127.0.0.1.
        package var tls = false
        package var executable = "/usr/sbin/mosquitto"
        package var startTimeout: Duration = .seconds(10)

        package init(tls: Bool = false) { self.tls = tls }
    }

    package static let username = "hearth"
    package static let password = "panel-secret"

    /// The broker of the enclosing suite (set by ``MosquittoBrokerTrait``).
    @TaskLocal package static var current: MosquittoBroker?

    package let host = "127.0.0.1"
    package let port: Int
    package let directory: URL
    /// The CA certificate clients must trust, when `tls`.
    package let caFile: String?
    private let options: Options
    /// The running broker process (replaced by ``restart()``); only touched under the lock.
    private let process: Mutex<Process>
    /// False for a failed start whose directory the next attempt reuses.
    private let ownsDirectory = Mutex(true)

    private init(port: Int, directory: URL, caFile: String?, options: Options, process: sending Process) {
        self.port = port
        self.directory = directory
        self.caFile = caFile
        self.options = options
        self.process = Mutex(process)
    }

    deinit { stop() }

    /// Starts a broker, retrying on another port if the chosen one was taken in between.
    package static func start(_ options: Options = Options()) async throws -> MosquittoBroker {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-mosquitto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let passwords = directory.appendingPathComponent("passwd").path
        for (index, (user, password)) in options.users.sorted(by: { $0.key < $1.key }).enumerated() {
            try run("/usr/bin/mosquitto_passwd", index == 0 ? ["-b", "-c", passwords, user, password] : ["-b", passwords, user, password])
        }
        let caFile = options.tls ? try makeCertificates(in: directory) : nil
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try freePort()
            var config = [
                "listener \(port) 127.0.0.1",
                "allow_anonymous false",
                "password_file \(passwords)",
                "persistence false",
                "log_dest file \(directory.appendingPathComponent("mosquitto.log").path)",
                // Root (as in CI containers) would otherwise switch to the `mosquitto` user, which cannot read the temp dir.
                "user \(getuid() == 0 ? "root" : NSUserName())",
            ]
            if caFile != nil {
                config += [
                    "cafile \(directory.appendingPathComponent("ca.crt").path)",
                    "certfile \(directory.appendingPathComponent("server.crt").path)",
                    "keyfile \(directory.appendingPathComponent("server.key").path)",
                ]
            }
            let configFile = directory.appendingPathComponent("mosquitto.conf")
            try (config.joined(separator: "\n") + "\n").write(to: configFile, atomically: true, encoding: .utf8)
            let process = try launch(options.executable, config: configFile)
            let broker = MosquittoBroker(port: port, directory: directory, caFile: caFile, options: options, process: process)
            do {
                try await broker.waitUntilAccepting(timeout: options.startTimeout)
                return broker
            } catch {
                // The next attempt reuses the directory (passwords, certificates): this one must not delete it.
                broker.ownsDirectory.withLock { $0 = false }
                broker.terminate()
                lastError = error
            }
        }
        try? FileManager.default.removeItem(at: directory)
        throw lastError ?? BrokerError(message: "mosquitto did not start")
    }

    /// Kills the broker and starts it again on the same port with the same config (clients see a lost connection;
    /// nothing retained survives, as persistence is off). Returns once the port accepts connections again.
    package func restart() async throws {
        terminate()
        let fresh = try Self.launch(options.executable, config: directory.appendingPathComponent("mosquitto.conf"))
        process.withLock { $0 = fresh }
        try await waitUntilAccepting(timeout: options.startTimeout)
    }

    private static func launch(_ executable: String, config: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", config.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Kills the broker but keeps its folder and port, for ``restart()``: a panel whose broker is down.
    package func killProcess() { terminate() }

    /// Terminates the broker and removes its directory. Idempotent.
    package func stop() {
        terminate()
        if ownsDirectory.withLock({ $0 }) { try? FileManager.default.removeItem(at: directory) }
    }

    private func terminate() {
        process.withLock { process in
            // SIGKILL, not terminate()'s SIGTERM: the child inherits the test runner's signal mask, in which SIGTERM
            // is blocked, so mosquitto would never see it. Nothing is lost (persistence is off).
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }

    /// The broker's log so far (for failure messages).
    package var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("mosquitto.log"), encoding: .utf8)) ?? ""
    }

    /// Polls a TCP connect until it succeeds; fails fast if the process exits.
    private func waitUntilAccepting(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            let running = process.withLock { $0.isRunning }
            guard running else { throw BrokerError(message: "mosquitto exited: \(log)") }
            if Self.canConnect(port: port) { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw BrokerError(message: "mosquitto did not accept connections on \(port) within \(timeout): \(log)")
    }

    package struct BrokerError: Error, CustomStringConvertible {
        package var message: String
        package var description: String { message }
    }

    // MARK: Helpers

    private static func run(_ path: String, _ arguments: [String], in directory: URL? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BrokerError(message: "\(path) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
    }

    /// A CA and a server certificate for localhost / 127.0.0.1 (P-256 keys: fast to make).
    private static func makeCertificates(in directory: URL) throws -> String {
        let openssl = "/usr/bin/openssl"
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try run(
            openssl, ["req", "-x509"] + ec + ["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Hearth Test CA"],
            in: directory)
        try run(openssl, ["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], in: directory)
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(
            to: directory.appendingPathComponent("ext.cnf"), atomically: true, encoding: .utf8)
        try run(
            openssl,
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days",
                "2", "-extfile", "ext.cnf",
            ],
            in: directory)
        return directory.appendingPathComponent("ca.crt").path
    }

    /// A port the kernel just handed out for 127.0.0.1 (closed again, so mosquitto can bind it).
    package static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BrokerError(message: "socket() failed") }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw BrokerError(message: "bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw BrokerError(message: "getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    package static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

/// Runs a suite inside one broker's lifetime: `@Suite(.mosquittoBroker())`.
package struct MosquittoBrokerTrait: SuiteTrait, TestScoping {
    package var options: MosquittoBroker.Options

    package var isRecursive: Bool { false }

    package func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let broker = try await MosquittoBroker.start(options)
        defer { broker.stop() }
        try await MosquittoBroker.$current.withValue(broker) {
            try await function()
        }
    }
}

extension Trait where Self == MosquittoBrokerTrait {
    package static func mosquittoBroker(_ options: MosquittoBroker.Options = .init()) -> Self {
        MosquittoBrokerTrait(options: options)
    }
}
