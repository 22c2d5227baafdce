/// Decides which of many repeated events get their own row in the append-only audit log, so that nobody outside the
/// operators (a stranger calling the enrollment endpoint, a node repeating a report) can grow it without bound: the
/// first event of a key in each window is written, the rest of that window are counted and the count goes into the
/// key's next row. Keys are bounded too (``maximumKeys``): an event whose key does not fit is folded away.
public struct AuditThrottle: Sendable {
    public let windowSeconds: Double
    public let maximumKeys: Int
    private var windows: [String: Window] = [:]

    private struct Window: Sendable {
        var start: Double
        var folded: Int
    }

    public init(windowSeconds: Double = 60, maximumKeys: Int = 1024) {
        self.windowSeconds = windowSeconds.isFinite ? max(0, windowSeconds) : 60
        self.maximumKeys = max(1, maximumKeys)
    }

    /// Keys with a window open (bounded by ``maximumKeys``).
    public var trackedKeys: Int { windows.count }

    /// nil: do not write a row for this event (it is counted). Otherwise write one; the value is how many events of
    /// the key were folded since its previous row.
    public mutating func record(_ key: String, now: Double) -> Int? {
        if var window = windows[key] {
            guard !(now - window.start < windowSeconds) else {
                window.folded &+= 1
                windows[key] = window
                return nil
            }
            windows[key] = Window(start: now, folded: 0)
            return window.folded
        }
        if windows.count >= maximumKeys {
            windows = windows.filter { now - $0.value.start < windowSeconds }
            guard windows.count < maximumKeys else { return nil }
        }
        windows[key] = Window(start: now, folded: 0)
        return 0
    }
}
