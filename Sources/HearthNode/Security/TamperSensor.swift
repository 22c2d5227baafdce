public import Foundation
public import HearthCore
import Synchronization

/// A source of tamper signals (enclosure switch, accelerometer, panel power, network location, hardware, clock).
public protocol TamperSensor: Sendable {
    /// Signals from now on; the stream ends when the sensor stops.
    func signals() -> AsyncStream<TamperSignal>
}

/// For tests and development: signals are injected with ``emit(_:)``.
public final class SimulatedTamperSensor: TamperSensor {
    private let continuations = Mutex<[AsyncStream<TamperSignal>.Continuation]>([])

    public init() {}

    public func signals() -> AsyncStream<TamperSignal> {
        let (stream, continuation) = AsyncStream<TamperSignal>.makeStream()
        continuations.withLock { $0.append(continuation) }
        return stream
    }

    public func emit(_ signal: TamperSignal) {
        for continuation in continuations.withLock({ $0 }) { continuation.yield(signal) }
    }
}

/// What a Linux node can read without extra hardware: the home router's identity (the MAC of the default
/// gateway, from `/proc/net/route` and `/proc/net/arp`), wall-clock jumps against the monotonic clock, and the
/// GPU serials (`nvidia-smi --query-gpu=serial`, when present). Enclosure and motion need a sensor board.
public struct LinuxTamperSensor: TamperSensor {
    public var period: Duration

    public init(period: Duration = .seconds(5)) {
        self.period = period
    }

    public func signals() -> AsyncStream<TamperSignal> {
        let period = self.period
        return AsyncStream { continuation in
            let task = Task {
                let clock = ContinuousClock()
                let start = clock.now
                while !Task.isCancelled {
                    let monotonic = (clock.now - start).seconds
                    continuation.yield(.clockSample(wallSeconds: Date().timeIntervalSince1970, monotonicSeconds: monotonic))
                    if let router = Self.routerIdentity() { continuation.yield(.networkLocation(NetworkLocation(routerIdentity: router))) }
                    if let serials = Self.gpuSerials() { continuation.yield(.hardwareInventory(gpuSerials: serials)) }
                    try? await Task.sleep(for: period)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// MAC address of the default route's gateway, if the ARP cache has it.
    static func routerIdentity() -> String? {
        guard let routes = try? String(contentsOfFile: "/proc/net/route", encoding: .utf8) else { return nil }
        var gateway: String?
        for line in routes.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count > 2, fields[1] == "00000000", let raw = UInt32(fields[2], radix: 16) else { continue }
            gateway = (0..<4).map { String((raw >> (8 * $0)) & 0xff) }.joined(separator: ".")
        }
        guard let gateway, let arp = try? String(contentsOfFile: "/proc/net/arp", encoding: .utf8) else { return nil }
        for line in arp.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count > 3, fields[0] == gateway { return String(fields[3]) }
        }
        return nil
    }

    static func gpuSerials() -> Set<String>? {
        let path = "/usr/bin/nvidia-smi"
        guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--query-gpu=serial", "--format=csv,noheader"]
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return Set(String(decoding: data, as: UTF8.self).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
    }
}
