import Foundation

/// The top-level members of a JSON object, found byte-level: where each key and value lies, and whether the key
/// was written with escapes.
///
/// The gateway decodes a request with `JSONSerialization`, which folds duplicate keys (the last wins) and
/// unescapes names (`"n_pre\u0064ict"` is `n_predict`). An engine's parser may fold them differently, so the
/// gateway must know when the bytes say more than the dictionary: a duplicate or escaped key, or a key the
/// allow-list drops, means the body is rewritten from these ranges (values are copied as they are, never re-encoded).
///
/// It runs on every request, so strings (most of a body) are skipped with `memchr`, not byte by byte.
struct JSONObjectMembers {
    struct Member {
        /// Where the key lies, without its quotes (escapes not decoded).
        var key: Range<Int>
        /// Whether the key contains an escape (a backslash).
        var escapedKey: Bool
        /// The value's bytes, exactly as sent.
        var value: Range<Int>
    }

    private(set) var members: [Member] = []

    /// Nil when `bytes` is not one JSON object (the gateway has already refused such bodies by then).
    init?(_ bytes: UnsafeRawBufferPointer) {
        let scanner = Scanner(bytes: bytes)
        var index = scanner.skipWhitespace(from: 0)
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index = scanner.skipWhitespace(from: index + 1)
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            guard scanner.skipWhitespace(from: index + 1) == bytes.count else { return nil }
            return
        }
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let keyEnd = scanner.skipString(from: index) else {
                return nil
            }
            let key = (index + 1)..<(keyEnd - 1)
            let escaped = key.contains { bytes[$0] == UInt8(ascii: "\\") }
            index = scanner.skipWhitespace(from: keyEnd)
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            let valueStart = scanner.skipWhitespace(from: index + 1)
            guard let valueEnd = scanner.skipValue(from: valueStart) else { return nil }
            members.append(Member(key: key, escapedKey: escaped, value: valueStart..<valueEnd))
            index = scanner.skipWhitespace(from: valueEnd)
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index = scanner.skipWhitespace(from: index + 1)
                continue
            }
            guard bytes[index] == UInt8(ascii: "}"), scanner.skipWhitespace(from: index + 1) == bytes.count else { return nil }
            return
        }
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer

        /// Index just past the string that opens at `start` (a quote), or nil when it does not end.
        func skipString(from start: Int) -> Int? {
            guard let base = bytes.baseAddress else { return nil }
            var index = start + 1
            while index < bytes.count {
                guard let found = memchr(base + index, Int32(UInt8(ascii: "\"")), bytes.count - index) else { return nil }
                let quote = base.distance(to: UnsafeRawPointer(found))
                // Escaped when an odd number of backslashes precede it.
                var backslashes = 0
                while quote - backslashes - 1 > start, bytes[quote - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
                if backslashes % 2 == 0 { return quote + 1 }
                index = quote + 1
            }
            return nil
        }

        /// Index just past the JSON value that starts at `start`, or nil when it is cut off. Nesting is counted, not
        /// recursed, so a deeply nested value cannot exhaust the stack.
        func skipValue(from start: Int) -> Int? {
            guard start < bytes.count else { return nil }
            switch bytes[start] {
            case UInt8(ascii: "\""):
                return skipString(from: start)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                var index = start
                while index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: "\""):
                        guard let end = skipString(from: index) else { return nil }
                        index = end
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { return index + 1 }
                    default:
                        break
                    }
                    index += 1
                }
                return nil
            default:
                var index = start
                while index < bytes.count, !isWhitespace(bytes[index]),
                    bytes[index] != UInt8(ascii: ","), bytes[index] != UInt8(ascii: "}"), bytes[index] != UInt8(ascii: "]")
                {
                    index += 1
                }
                return index > start ? index : nil
            }
        }

        func skipWhitespace(from start: Int) -> Int {
            var index = start
            while index < bytes.count, isWhitespace(bytes[index]) { index += 1 }
            return index
        }

        func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
    }
}
