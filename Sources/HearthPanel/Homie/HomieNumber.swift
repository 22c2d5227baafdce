/// Strict parsing of Homie v5 `float` / `integer` payloads.
///
/// Homie 5.0 payloads are UTF-8 strings; a float is `[-+]?digits[.digits][(e|E)[-+]?digits]` and an integer
/// `[-+]?digits`. Anything else (whitespace, hex, JSON, "NaN", "inf") is refused here rather than left to
/// `Double.init`, which would accept "nan", "inf" and "0x1p3".
public enum HomieNumber {
    /// Longest numeric literal accepted; real panel values are under 20 characters.
    public static let maximumLength = 40

    /// Why a payload is not a usable number: its rejection kind (`.notANumber` or `.nonFinite`).
    public struct Failure: Error, Sendable, Hashable {
        public var kind: PanelRejection.Kind
    }

    /// The value, or why there is none.
    public static func parse(_ text: String, integer: Bool = false) -> Result<Double, Failure> {
        let lowered = text.lowercased()
        if ["nan", "-nan", "+nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"].contains(lowered) {
            return .failure(Failure(kind: .nonFinite))
        }
        guard text.utf8.count <= maximumLength, isLiteral(text.utf8, integer: integer), let value = Double(text) else {
            return .failure(Failure(kind: .notANumber))
        }
        return value.isFinite ? .success(value) : .failure(Failure(kind: .nonFinite))
    }

    static func isLiteral(_ bytes: String.UTF8View, integer: Bool) -> Bool {
        var i = bytes.startIndex
        func digits() -> Int {
            var n = 0
            while i < bytes.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) {
                n += 1
                i = bytes.index(after: i)
            }
            return n
        }
        func sign() {
            if i < bytes.endIndex, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") { i = bytes.index(after: i) }
        }
        sign()
        guard digits() > 0 else { return false }
        if !integer, i < bytes.endIndex, bytes[i] == UInt8(ascii: ".") {
            i = bytes.index(after: i)
            guard digits() > 0 else { return false }
        }
        if !integer, i < bytes.endIndex, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i = bytes.index(after: i)
            sign()
            guard digits() > 0 else { return false }
        }
        return i == bytes.endIndex
    }

    /// Formats a value the way a Homie device should publish it: plain decimal, at most `decimals` places.
    public static func format(_ value: Double, decimals: Int = 3) -> String {
        guard value.isFinite else { return "0" }
        let scale = pow10(decimals)
        let rounded = (value * scale).rounded() / scale
        if rounded == 0 { return "0" }
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
        return String(rounded)
    }

    private static func pow10(_ n: Int) -> Double {
        var p = 1.0
        for _ in 0..<max(0, n) { p *= 10 }
        return p
    }
}
