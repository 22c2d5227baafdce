/// What a real engine did in a `hearth sim validate` run, kept so that the same run can be simulated again
/// (`--record` writes it, `--replay` reads it): the profile calibrated then, and every level's requests and
/// observations. Model changes are then compared on the same real timings, which on a shared machine vary more
/// between runs than the errors being chased.
public struct ValidationRecording: Sendable, Codable {
    /// One workload at one load level, as sent and as measured.
    public struct Level: Sendable, Codable {
        public var workload: String
        public var concurrency: Int
        /// The requests as sent (segment keys salted per level).
        public var requests: [ValidationRequest]
        public var observations: [ValidationObservation]
        /// The engine's speed checked just before the level (nil: not checked, as in recordings from before checks).
        public var speed: EngineSpeed?

        public init(
            workload: String, concurrency: Int, requests: [ValidationRequest], observations: [ValidationObservation],
            speed: EngineSpeed? = nil
        ) {
            self.workload = workload
            self.concurrency = concurrency
            self.requests = requests
            self.observations = observations
            self.speed = speed
        }
    }

    /// Format version of the file; a reader refuses others.
    public static let version = 1

    public var version: Int
    public var engineURL: String
    public var model: String
    public var contextTokens: Int
    public var profile: ValidationProfile
    public var profileSource: String
    public var levels: [Level]

    public init(
        engineURL: String, model: String, contextTokens: Int, profile: ValidationProfile, profileSource: String, levels: [Level]
    ) {
        self.version = Self.version
        self.engineURL = engineURL
        self.model = model
        self.contextTokens = contextTokens
        self.profile = profile
        self.profileSource = profileSource
        self.levels = levels
    }
}
