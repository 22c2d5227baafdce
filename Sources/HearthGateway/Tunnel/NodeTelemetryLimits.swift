import HearthCore

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
    /// Energy intervals: at most an hour long; a node's clock may run 5 minutes ahead of the gateway's before they
    /// count as from the future; at most a week old (a node offline for a week resends what it kept); a day of
    /// minutes at once (a resend after a reconnect), then at most one a second (the ledger's pace).
    static let energy = EnergyIntervalGuard.Limits(
        maximumIntervalSeconds: 3_600, clockSkewSeconds: 300, maximumAgeSeconds: 7 * 86_400, burstIntervals: 1_440,
        secondsPerInterval: 1)
    /// Heartbeats read per heartbeat interval on average (an honest node sends one), and how many may come at once.
    static let heartbeatsPerInterval = 2.0
    static let heartbeatBurst = 32

    // Performance claims in a hello. The fastest accelerators prefill well under a million tokens a second and
    // decode one sequence at a few thousand tokens a second.
    static let maximumPrefillTokensPerSecond = 1_000_000.0
    static let minimumDecodeStepSeconds = 0.000_1
    static let maximumSeconds = 60.0
}
