import Foundation

enum FileManagerShim {
    static func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
}
