import ArgumentParser
import Foundation
import HearthCore

/// `--prices FILE`: reads the price file, or stops with the field that is wrong.
enum PriceFile {
    static func read(_ path: String) throws -> PriceBook {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("--prices: cannot read \(path)") }
        do {
            return try PriceBook(json: Array(data))
        } catch {
            throw ValidationError("--prices \(path): \(error)")
        }
    }
}
