public import Foundation
public import HearthCore

/// What a node id may be, and where a node agent's id comes from when the operator does not name it. Never the
/// machine's host name: that often names a home or a person, and node ids reach logs, metrics and `X-Hearth-Node`.
public enum NodeIdentifier {
    /// 1-128 characters of `A-Z a-z 0-9 . _ -`.
    public static func isWellFormed(_ id: String) -> Bool {
        let bytes = id.utf8
        return (1...128).contains(bytes.count)
            && bytes.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default: false
                }
            }
    }

    /// The node's id: `flag` when given, else the one `<dataDirectory>/node-id` keeps, else a new random
    /// `node-<12 hex>` that is kept there for the next start.
    public static func resolve(_ flag: String?, dataDirectory: String) throws -> NodeID {
        let path = dataDirectory + "/node-id"
        let kept = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let id = flag ?? kept.flatMap({ isWellFormed($0) ? $0 : nil }) {
            if id != kept { try? keep(id, at: path, directory: dataDirectory) }
            return NodeID(id)
        }
        let id = "node-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        try keep(id, at: path, directory: dataDirectory)
        return NodeID(id)
    }

    private static func keep(_ id: String, at path: String, directory: String) throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try SecretFile.write(id + "\n", to: path, mode: 0o644)
    }
}
