public import Foundation
public import Logging
import Synchronization

/// Writes each log event as one JSON object on one line: `timestamp` (ISO 8601, UTC, milliseconds), `level`, `label`,
/// `message`, `source`, then the event's metadata as top-level fields (the handler's, the provider's, then the
/// event's own, later ones winning), and `error` when the event carries one. A metadata key that would replace one of
/// the fixed fields is written as `metadata_<key>` instead, so a field's meaning never depends on the caller.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let output: @Sendable (String) -> Void

    static let fixedFields: Set<String> = ["timestamp", "level", "label", "message", "source", "error"]

    /// - Parameter output: receives each line, newline included.
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil, output: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.output = output
    }

    /// Lines to standard error, each in one write.
    public static func standardError(label: String) -> JSONLogHandler {
        JSONLogHandler(label: label) { line in FileHandle.standardError.write(Data(line.utf8)) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        var line = "{"
        Self.append("timestamp", .string(Self.timestamp(Date())), to: &line, first: true)
        Self.append("level", .string(event.level.rawValue), to: &line)
        Self.append("label", .string(label), to: &line)
        Self.append("message", .string(event.message.description), to: &line)
        Self.append("source", .string(event.source), to: &line)
        if let error = event.error { Self.append("error", .string(String(describing: error)), to: &line) }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            Self.append(Self.fixedFields.contains(key) ? "metadata_" + key : key, value, to: &line)
        }
        line += "}\n"
        output(line)
    }

    private static func append(_ key: String, _ value: Logger.Metadata.Value, to line: inout String, first: Bool = false) {
        if !first { line += "," }
        appendString(key, to: &line)
        line += ":"
        appendValue(value, to: &line)
    }

    private static func appendValue(_ value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let string): appendString(string, to: &line)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &line)
        case .array(let values):
            line += "["
            for (index, element) in values.enumerated() {
                if index > 0 { line += "," }
                appendValue(element, to: &line)
            }
            line += "]"
        case .dictionary(let fields):
            line += "{"
            for (index, field) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line += "," }
                appendString(field.key, to: &line)
                line += ":"
                appendValue(field.value, to: &line)
            }
            line += "}"
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as UTF-8.
    static func appendString(_ string: String, to line: inout String) {
        line += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where scalar.value < 0x20:
                line += "\\u00" + String(scalar.value >> 4, radix: 16) + String(scalar.value & 0xF, radix: 16)
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }

    private static let formatter = Mutex(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))

    static func timestamp(_ date: Date) -> String { formatter.withLock { $0.format(date) } }
}

/// The shape of the log lines an executable writes (`--log-format`).
public enum LogFormat: String, CaseIterable, Sendable {
    /// swift-log's own lines, for people at a terminal.
    case text
    /// One JSON object a line (``JSONLogHandler``), for log collectors.
    case json

    /// Installs the process's log handlers at `level`. Call once, before any logger is made.
    public func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            switch self {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}
