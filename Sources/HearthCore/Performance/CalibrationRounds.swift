/// Repeats a node's calibration until it is stable: a machine busy with something else during one round (a build, a
/// browser, another model loading) must not set the profile the node starts with.
///
/// Each round measures the same cases in the same order (one ``CalibrationSample`` per case, nil where a measurement
/// failed). The rounds stop when two in a row agree, every case's prefill and decode step within ``agreement`` of each
/// other, or after ``maximumRounds``; the result is each case's median over all rounds, which outvotes a busy round
/// once two calm ones agree.
public struct CalibrationRounds: Sendable, Hashable {
    /// Most rounds measured, however much they disagree.
    public let maximumRounds: Int
    /// Relative difference two rounds may show and still agree (0.1: within 10 % of the larger).
    public let agreement: Double
    /// The rounds so far, oldest first.
    public private(set) var rounds: [[CalibrationSample?]] = []

    public init(maximumRounds: Int = 5, agreement: Double = 0.1) {
        self.maximumRounds = max(1, maximumRounds)
        self.agreement = agreement.isFinite ? max(0, agreement) : 0.1
    }

    public mutating func add(_ round: [CalibrationSample?]) {
        rounds.append(round)
    }

    /// Whether to stop measuring: stable, out of rounds, or the last round measured nothing (the engine is not
    /// answering: more rounds would not change that).
    public var isDone: Bool {
        isStable || rounds.count >= maximumRounds || rounds.last.map { $0.allSatisfy { $0 == nil } } == true
    }

    /// Whether the last two rounds agree on every case (a case that failed in both counts as agreeing; one that
    /// failed in only one does not).
    public var isStable: Bool {
        guard rounds.count >= 2 else { return false }
        let last = rounds[rounds.count - 1]
        let previous = rounds[rounds.count - 2]
        guard last.count == previous.count, last.contains(where: { $0 != nil }) else { return false }
        return zip(last, previous).allSatisfy { pair in
            switch pair {
            case (nil, nil): true
            case (let a?, let b?): agree(a.prefillSeconds, b.prefillSeconds) && agree(a.decodeStepSeconds, b.decodeStepSeconds)
            default: false
            }
        }
    }

    private func agree(_ a: Double, _ b: Double) -> Bool {
        guard a.isFinite, b.isFinite else { return false }
        return abs(a - b) <= agreement * max(abs(a), abs(b))
    }

    /// Each case's median sample over the rounds that measured it (cases no round measured are left out).
    public var medianSamples: [CalibrationSample] {
        let cases = rounds.map(\.count).max() ?? 0
        return (0..<cases).compactMap { index in
            let measured = rounds.compactMap { index < $0.count ? $0[index] : nil }
            guard !measured.isEmpty else { return nil }
            return CalibrationSample(
                promptTokens: Self.median(measured.map(\.promptTokens)),
                prefillSeconds: Self.median(measured.map(\.prefillSeconds)),
                batchSize: Self.median(measured.map(\.batchSize)),
                decodeStepSeconds: Self.median(measured.map(\.decodeStepSeconds)))
        }
    }

    private static func median(_ values: [Double]) -> Double {
        ProfileRefitter.median(values.filter(\.isFinite)) ?? 0
    }

    /// The lower middle value: a count stays a count.
    private static func median(_ values: [Int]) -> Int {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[(sorted.count - 1) / 2]
    }
}
