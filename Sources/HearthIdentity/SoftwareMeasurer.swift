public import Crypto
public import Foundation
public import HearthCore
import Synchronization

/// Measures what the node runs: SHA-256 of the agent binary, the engine binary and the model file. A file's
/// digest is cached by (path, size, modification time) so that renewing every half hour does not re-read a
/// many-gigabyte model.
public final class SoftwareMeasurer: Sendable {
    private let cache = Mutex<[String: (size: UInt64, modified: Date, digest: String)]>([:])

    public init() {}

    public func measure(agent: String, engine: String?, model: String?) -> SoftwareMeasurement {
        SoftwareMeasurement(agent: digest(agent), engine: engine.map(digest) ?? "none", model: model.map(digest) ?? "none")
    }

    /// The file's SHA-256 in lowercase hex, or `unreadable:<path>` (which never matches an allowed set).
    public func digest(_ path: String) -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attributes[.size] as? NSNumber)?.uint64Value, let modified = attributes[.modificationDate] as? Date
        else { return "unreadable:\(path)" }
        if let cached = cache.withLock({ $0[path] }), cached.size == size, cached.modified == modified { return cached.digest }
        guard let handle = FileHandle(forReadingAtPath: path) else { return "unreadable:\(path)" }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        let digest = Hex.encode(hasher.finalize())
        cache.withLock { $0[path] = (size, modified, digest) }
        return digest
    }
}
