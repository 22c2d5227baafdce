/// One measurement from a node's calibration run against its engine.
///
/// A sample may carry a prefill measurement, a decode measurement or both; pass 0 for the part it lacks.
public struct CalibrationSample: Sendable, Hashable, Codable {
    public var promptTokens: Int
    public var prefillSeconds: Double
    public var batchSize: Int
    public var decodeStepSeconds: Double

    public init(promptTokens: Int, prefillSeconds: Double, batchSize: Int, decodeStepSeconds: Double) {
        self.promptTokens = promptTokens
        self.prefillSeconds = prefillSeconds
        self.batchSize = batchSize
        self.decodeStepSeconds = decodeStepSeconds
    }
}
