/// Infers a request's ``TaskClass`` from its shape when the client did not declare one.
///
/// The rule, in order (see `docs/SCHEDULER.md`):
/// 1. A declared class that names a ``TaskClass`` wins. (An unknown declared value is the
///    caller's error to report: check `TaskClass(rawValue:)` first and answer 400.)
/// 2. `promptTokens >= documentMinPromptTokens` and output `<= documentMaxOutputTokens` → `document`.
/// 3. More than one turn → `chat`.
/// 4. Output `>= codeMinOutputTokens` → `code`.
/// 5. Otherwise → `chat`.
///
/// `batch` is never inferred: a deadline in minutes is a client's choice, not a shape.
/// The output used is `maxOutputTokens`, or ``defaultMaxOutputTokens`` when the client gave none.
public struct TaskClassifier: Sendable, Hashable, Codable {
    public var documentMinPromptTokens: Int
    public var documentMaxOutputTokens: Int
    public var codeMinOutputTokens: Int
    public var defaultMaxOutputTokens: Int

    public init(
        documentMinPromptTokens: Int = 4096,
        documentMaxOutputTokens: Int = 512,
        codeMinOutputTokens: Int = 512,
        defaultMaxOutputTokens: Int = 256
    ) {
        self.documentMinPromptTokens = documentMinPromptTokens
        self.documentMaxOutputTokens = documentMaxOutputTokens
        self.codeMinOutputTokens = codeMinOutputTokens
        self.defaultMaxOutputTokens = defaultMaxOutputTokens
    }

    /// Classifies a request; a valid `declared` value wins, an invalid one is ignored here.
    public func classify(declared: String?, promptTokens: Int, maxOutputTokens: Int?, turns: Int) -> TaskClass {
        if let declared, let declaredClass = TaskClass(rawValue: declared.lowercased()) {
            return declaredClass
        }
        let output = maxOutputTokens ?? defaultMaxOutputTokens
        if promptTokens >= documentMinPromptTokens && output <= documentMaxOutputTokens {
            return .document
        }
        if turns > 1 { return .chat }
        if output >= codeMinOutputTokens { return .code }
        return .chat
    }
}
