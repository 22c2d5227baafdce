public import Foundation
import HearthCore

extension GatewayConfiguration {
    /// 32 bytes from the system's secure generator.
    public static func randomCacheSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Reads `<dataDirectory>/cache-secret` (hex), or creates it (mode 0600) with a fresh secret. For the CLI.
    public static func loadOrCreateCacheSecret(dataDirectory: String) throws -> [UInt8] {
        let path = dataDirectory + "/cache-secret"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let hex = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
            var bytes: [UInt8] = []
            var index = 0
            while index + 1 < hex.count, let byte = UInt8(String(decoding: hex[index...(index + 1)], as: UTF8.self), radix: 16) {
                bytes.append(byte)
                index += 2
            }
            if bytes.count >= 32 && index == hex.count { return bytes }
        }
        let secret = randomCacheSecret()
        let text = Hex.encode(secret) + "\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return secret
    }
}
