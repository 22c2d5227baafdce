/// A small parser for the TOML subset that scenario files use, so the planner needs no new dependency.
///
/// Supported: `# comments`, `key = value` with bare keys (`A-Za-z0-9_-`), `[table]`, `[[array-of-tables]]`,
/// dotted headers whose leading parts name the *last* element of an array of tables (`[[deployment.site]]`
/// adds a site to the latest `[[deployment]]`), basic strings `"…"` with `\" \\ \n \t` escapes, integers and
/// floats (underscores, exponents), `true`/`false`, and one-line arrays of those scalars. Not supported (a precise
/// error, never a silent misread): inline tables, multi-line strings and arrays, literal strings, dates,
/// dotted keys on the left of `=`.
struct TOMLDocument {
    enum Scalar: Equatable {
        case string(String)
        case integer(Int)
        case float(Double)
        case bool(Bool)
        case array([Scalar])
    }

    final class Table {
        var scalars: [String: (value: Scalar, line: Int)] = [:]
        var tables: [String: Table] = [:]
        var arrays: [String: [Table]] = [:]
        let line: Int
        init(line: Int) { self.line = line }
    }

    let root = Table(line: 0)
    let file: String
    /// Lines in the file (where a missing table is reported: it was not found before the end).
    let lineCount: Int

    init(text: String, file: String) throws(PlanError) {
        self.file = file
        var current = root
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        lineCount = max(1, lines.count)
        for (index, raw) in lines.enumerated() {
            let line = index + 1
            let content = Self.stripComment(Substring(raw)).trimmingWhitespace()
            if content.isEmpty { continue }
            if content.hasPrefix("[") {
                let isArray = content.hasPrefix("[[")
                guard isArray ? content.hasSuffix("]]") : content.hasSuffix("]") else {
                    throw syntax("unterminated table header '\(content)'", line)
                }
                let name = content.dropFirst(isArray ? 2 : 1).dropLast(isArray ? 2 : 1).trimmingWhitespace()
                let parts = name.split(separator: ".", omittingEmptySubsequences: false).map { String($0).trimmingWhitespace() }
                guard !parts.isEmpty, parts.allSatisfy(Self.isBareKey) else { throw syntax("bad table name '\(name)'", line) }
                var table = root
                for part in parts.dropLast() {
                    if let array = table.arrays[part], let last = array.last {
                        table = last
                    } else if let sub = table.tables[part] {
                        table = sub
                    } else {
                        let sub = Table(line: line)
                        table.tables[part] = sub
                        table = sub
                    }
                }
                let last = parts.last!
                if isArray {
                    guard table.tables[last] == nil, table.scalars[last] == nil else {
                        throw syntax("'\(name)' is already a table or value", line)
                    }
                    let sub = Table(line: line)
                    table.arrays[last, default: []].append(sub)
                    current = sub
                } else {
                    guard table.tables[last] == nil, table.arrays[last] == nil, table.scalars[last] == nil else {
                        throw syntax("table '\(name)' defined twice", line)
                    }
                    let sub = Table(line: line)
                    table.tables[last] = sub
                    current = sub
                }
                continue
            }
            guard let equals = content.firstIndex(of: "=") else { throw syntax("expected 'key = value', got '\(content)'", line) }
            let key = content[..<equals].trimmingWhitespace()
            guard Self.isBareKey(key) else {
                throw syntax("bad key '\(key)' (bare keys only: letters, digits, '_' and '-'; dotted keys are not supported)", line)
            }
            guard current.scalars[key] == nil, current.tables[key] == nil, current.arrays[key] == nil else {
                throw syntax("key '\(key)' defined twice", line)
            }
            var parser = ValueParser(text: Array(content[content.index(after: equals)...].trimmingWhitespace().unicodeScalars))
            do {
                let value = try parser.parseValue()
                parser.skipSpaces()
                guard parser.atEnd else { throw ValueParser.Failure(message: "unexpected text after the value") }
                current.scalars[key] = (value, line)
            } catch let failure as ValueParser.Failure {
                throw PlanError(.syntax, field: key, failure.message, file: file, line: line)
            } catch {
                throw syntax("\(error)", line)
            }
        }
    }

    private func syntax(_ message: String, _ line: Int) -> PlanError { PlanError(.syntax, field: "", message, file: file, line: line) }

    static func isBareKey(_ key: String) -> Bool {
        !key.isEmpty
            && key.unicodeScalars.allSatisfy {
                ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == "-"
            }
    }

    /// Drops a `#` comment that is not inside a string.
    static func stripComment(_ line: Substring) -> Substring {
        var inString = false
        var escaped = false
        for index in line.indices {
            let c = line[index]
            if inString {
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { inString = false }
            } else if c == "\"" {
                inString = true
            } else if c == "#" {
                return line[..<index]
            }
        }
        return line
    }

    struct ValueParser {
        struct Failure: Error { var message: String }
        let text: [Unicode.Scalar]
        var i = 0

        var atEnd: Bool { i >= text.count }

        mutating func skipSpaces() { while i < text.count, text[i] == " " || text[i] == "\t" { i += 1 } }

        mutating func parseValue() throws -> Scalar {
            skipSpaces()
            guard i < text.count else { throw Failure(message: "missing value") }
            switch text[i] {
            case "\"": return .string(try parseString())
            case "[": return try parseArray()
            case "{": throw Failure(message: "inline tables are not supported; use a [table] or [[array]] header")
            case "'": throw Failure(message: "literal strings are not supported; use \"…\"")
            default: return try parseBareValue()
            }
        }

        mutating func parseString() throws -> String {
            i += 1
            var out = String.UnicodeScalarView()
            while i < text.count {
                let c = text[i]
                i += 1
                if c == "\"" { return String(out) }
                if c == "\\" {
                    guard i < text.count else { break }
                    let e = text[i]
                    i += 1
                    switch e {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "\"": out.append("\"")
                    case "\\": out.append("\\")
                    default: throw Failure(message: "unsupported escape '\\\(e)'")
                    }
                } else {
                    out.append(c)
                }
            }
            throw Failure(message: "unterminated string")
        }

        mutating func parseArray() throws -> Scalar {
            i += 1
            var items: [Scalar] = []
            while true {
                skipSpaces()
                guard i < text.count else { throw Failure(message: "unterminated array (arrays must fit on one line)") }
                if text[i] == "]" {
                    i += 1
                    return .array(items)
                }
                let item = try parseValue()
                if case .array = item { throw Failure(message: "nested arrays are not supported") }
                items.append(item)
                skipSpaces()
                guard i < text.count else { throw Failure(message: "unterminated array (arrays must fit on one line)") }
                if text[i] == "," { i += 1 } else if text[i] != "]" { throw Failure(message: "expected ',' or ']' in array") }
            }
        }

        mutating func parseBareValue() throws -> Scalar {
            let start = i
            while i < text.count, text[i] != ",", text[i] != "]", text[i] != " ", text[i] != "\t" { i += 1 }
            let word = String(String.UnicodeScalarView(text[start..<i]))
            if word == "true" { return .bool(true) }
            if word == "false" { return .bool(false) }
            let digits = word.replacingUnderscores()
            if let n = Int(digits) { return .integer(n) }
            if let x = Double(digits), x.isFinite, !digits.lowercased().contains("n") { return .float(x) }
            throw Failure(message: "not a TOML value: '\(word)' (strings need double quotes)")
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }

    fileprivate func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
