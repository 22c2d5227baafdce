import Foundation
import Synchronization

/// Sets the node's GPU power limits and reads their draw: `nvidia-smi` on a GPU node, a dry run elsewhere.
public protocol GPUPowerLimiter: Sendable {
    /// Sets the sum of the GPUs' power limits, split evenly and clamped to each GPU's settable range.
    func setTotalLimit(watts: Double) async throws
    /// What the GPUs draw now, watts; nil when the limiter cannot measure it (the caller then assumes the limit).
    func drawWatts() async -> Double?
}

/// For machines without a GPU (and tests): records every limit it would set and measures nothing.
public final class DryRunPowerLimiter: GPUPowerLimiter {
    private let history = Mutex<[Double]>([])

    public init() {}

    public func setTotalLimit(watts: Double) async throws {
        history.withLock { $0.append(watts) }
    }

    public func drawWatts() async -> Double? { nil }

    /// Every limit set so far, in order.
    public var limitsSet: [Double] { history.withLock { $0 } }
}

/// NVIDIA GPUs through `nvidia-smi` (NVML's command-line front end): `-pl` per GPU to set a limit (needs root)
/// and `--query-gpu` for draw and each GPU's settable range.
public struct NvidiaSMIPowerLimiter: GPUPowerLimiter {
    public struct GPU: Sendable, Equatable {
        public var index: Int
        public var drawWatts: Double?
        public var minLimitWatts: Double
        public var maxLimitWatts: Double
    }

    public enum Failure: Error, CustomStringConvertible {
        case commandFailed(String, status: Int32, output: String)
        case unreadable(String)

        public var description: String {
            switch self {
            case .commandFailed(let command, let status, let output): "\(command) exited \(status): \(output)"
            case .unreadable(let output): "could not read nvidia-smi output: \(output)"
            }
        }
    }

    public let executable: String

    public init(executable: String = "/usr/bin/nvidia-smi") {
        self.executable = executable
    }

    public func gpus() throws -> [GPU] {
        let output = try run(["--query-gpu=index,power.draw,power.min_limit,power.max_limit", "--format=csv,noheader,nounits"])
        return try Self.parse(output)
    }

    /// Parses `index, draw, min, max` lines (draw may read `[N/A]`).
    static func parse(_ output: String) throws -> [GPU] {
        try output.split(whereSeparator: \.isNewline).map { line in
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == 4, let index = Int(fields[0]), let min = Double(fields[2]), let max = Double(fields[3]),
                min.isFinite, max.isFinite, min > 0, max >= min
            else { throw Failure.unreadable(String(line)) }
            return GPU(
                index: index, drawWatts: Double(fields[1]).flatMap { $0.isFinite ? $0 : nil }, minLimitWatts: min, maxLimitWatts: max)
        }
    }

    public func setTotalLimit(watts: Double) async throws {
        let gpus = try gpus()
        guard !gpus.isEmpty else { return }
        let each = watts / Double(gpus.count)
        for gpu in gpus {
            let limit = Swift.min(gpu.maxLimitWatts, Swift.max(gpu.minLimitWatts, each))
            _ = try run(["-i", "\(gpu.index)", "-pl", String(format: "%.0f", limit)])
        }
    }

    public func drawWatts() async -> Double? {
        guard let gpus = try? gpus() else { return nil }
        let draws = gpus.compactMap(\.drawWatts)
        return draws.count == gpus.count ? draws.reduce(0, +) : nil
    }

    private func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure.commandFailed("nvidia-smi \(arguments.joined(separator: " "))", status: process.terminationStatus, output: output)
        }
        return output
    }
}
