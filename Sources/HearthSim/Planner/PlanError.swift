/// Why a scenario could not be read or run: a code, a message naming the field, and where in the file.
public struct PlanError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: Sendable, Hashable {
            case syntax, unknownKey, missingField, invalidValue, inconsistent, io
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The file is not in the TOML subset (see docs/PLANNER.md).
        public static let syntax = Code(.syntax)
        /// A key the scenario format does not know (usually a typo).
        public static let unknownKey = Code(.unknownKey)
        public static let missingField = Code(.missingField)
        /// A value of the wrong type or out of range.
        public static let invalidValue = Code(.invalidValue)
        /// Values that contradict each other (GPUs that do not fit the site's power, an unknown sweep target).
        public static let inconsistent = Code(.inconsistent)
        public static let io = Code(.io)

        public var description: String {
            switch value {
            case .syntax: "syntax"
            case .unknownKey: "unknown-key"
            case .missingField: "missing-field"
            case .invalidValue: "invalid-value"
            case .inconsistent: "inconsistent"
            case .io: "io"
            }
        }
    }

    public var code: Code
    /// Dotted path of the field (`deployment[1].gpus_per_node`), empty for syntax errors.
    public var field: String
    public var message: String
    public var file: String
    /// 1-based line, 0 when the error has no line (a missing table).
    public var line: Int

    public init(_ code: Code, field: String, _ message: String, file: String, line: Int) {
        self.code = code
        self.field = field
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line)" : file
        return field.isEmpty ? "\(place): \(message)" : "\(place): \(field): \(message)"
    }
}
