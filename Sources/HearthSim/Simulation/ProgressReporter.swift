import Foundation

/// Draws a progress bar on standard error for long runs (one line, redrawn in place).
public struct ProgressReporter: Sendable {
    public var label: String
    public var isEnabled: Bool
    private var lastPercent = -1

    public init(label: String, isEnabled: Bool = true) {
        self.label = label
        self.isEnabled = isEnabled
    }

    /// Reports `done` of `total`; redraws only when the whole percentage changes.
    public mutating func update(done: Int, total: Int) {
        guard isEnabled, total > 0 else { return }
        let percent = min(100, done * 100 / total)
        guard percent != lastPercent else { return }
        lastPercent = percent
        let width = 30
        let filled = percent * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\r\(label) [\(bar)] \(percent)% (\(done)/\(total))"
        FileHandle.standardError.write(Data(line.utf8))
    }

    public func finish() {
        guard isEnabled, lastPercent >= 0 else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
