/// What a home node can physically report. Anything outside is a lie or a bug, and the gateway never acts on it.
enum NodeTelemetryLimits {
    /// An 80 A circuit at 240 V is 19.2 kW: no home node draws or is budgeted more.
    static let maximumNodeWatts = 20_000.0
    /// A 400 A residential service at 240 V.
    static let maximumHomeLoadWatts = 100_000.0
    /// More streams than this on one node is not a home GPU.
    static let maximumActiveStreams = 65_536
    /// Energy intervals in one heartbeat (a node resends at most a day of minutes after a reconnect).
    static let maximumEnergyIntervals = 1_440
    /// Longest energy interval, seconds.
    static let maximumIntervalSeconds: Int64 = 3_600
    /// How far a node's clock may run ahead of the gateway's before its intervals count as from the future.
    static let clockSkewSeconds: Int64 = 300
    /// How old an interval may be (a node offline for a week resends what it kept).
    static let maximumIntervalAgeSeconds: Int64 = 7 * 86_400

    // Performance claims in a hello. The fastest accelerators prefill well under a million tokens a second and
    // decode one sequence at a few thousand tokens a second.
    static let maximumPrefillTokensPerSecond = 1_000_000.0
    static let minimumDecodeStepSeconds = 0.000_1
    static let maximumSeconds = 60.0
}
