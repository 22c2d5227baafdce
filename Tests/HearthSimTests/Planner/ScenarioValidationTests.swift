import Foundation
import HearthSim
import Testing

/// Every way a scenario can be wrong gets an error that names the field and the line it is on.
@Suite struct ScenarioValidationTests {
    let base = ScenarioFileTests.minimal

    func error(_ text: String) -> PlanError? {
        do {
            _ = try Scenario.read(text: text, file: "bad.toml")
            return nil
        } catch {
            return error
        }
    }

    /// 1-based number of the first line that is `needle` (surrounding spaces aside).
    func line(of needle: String, in text: String) -> Int {
        (text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex {
            $0.trimmingCharacters(in: .whitespaces) == needle
        } ?? -1) + 1
    }

    func lineCount(_ text: String) -> Int { text.split(separator: "\n", omittingEmptySubsequences: false).count }

    /// Replaces `old` (which must occur) and expects an error of `code` on `field`, at the line holding `marker`.
    func expectError(
        replacing old: String, with new: String, code: PlanError.Code, field: String, at marker: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        #expect(base.contains(old), "test setup: '\(old)' not in the scenario", sourceLocation: sourceLocation)
        let text = base.replacingOccurrences(of: old, with: new)
        let e = try #require(error(text), sourceLocation: sourceLocation)
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
        #expect(e.field == field, "\(e)", sourceLocation: sourceLocation)
        let expectedLine = line(of: marker ?? new.split(separator: "\n").first.map(String.init) ?? new, in: text)
        #expect(e.line == expectedLine, "\(e)", sourceLocation: sourceLocation)
        #expect(e.line > 0, sourceLocation: sourceLocation)
        #expect(e.description.hasPrefix("bad.toml:\(e.line): \(field): "), "\(e)", sourceLocation: sourceLocation)
    }

    @Test func typeMismatches() throws {
        try expectError(replacing: "seed = 7", with: "seed = \"7\"", code: .invalidValue, field: "scenario.seed")
        try expectError(replacing: "seed = 7", with: "seed = 7.5", code: .invalidValue, field: "scenario.seed")
        try expectError(replacing: "homes = 40", with: "homes = true", code: .invalidValue, field: "deployment[0].homes")
        try expectError(replacing: "name = \"homes\"", with: "name = 3", code: .invalidValue, field: "deployment[0].name")
        try expectError(
            replacing: "distance_km = 800", with: "distance_km = [800]", code: .invalidValue, field: "deployment[1].site[0].distance_km")
    }

    @Test func negativeAndZeroCounts() throws {
        try expectError(replacing: "homes = 40", with: "homes = -40", code: .invalidValue, field: "deployment[0].homes")
        try expectError(replacing: "gpus = 4", with: "gpus = 0", code: .invalidValue, field: "deployment[1].gpus")
        try expectError(
            replacing: "gpus_per_node = 2", with: "gpus_per_node = -2", code: .invalidValue, field: "deployment[1].gpus_per_node")
        try expectError(
            replacing: "homes_per_transformer = 4", with: "homes_per_transformer = 0", code: .invalidValue,
            field: "deployment[0].homes_per_transformer")
        try expectError(replacing: "weight = 0.5", with: "weight = -1", code: .invalidValue, field: "users[1].weight")
        try expectError(replacing: "power_mw = 1", with: "power_mw = 0", code: .invalidValue, field: "deployment[1].site[0].power_mw")
        try expectError(replacing: "duration_s = 30", with: "duration_s = 0", code: .invalidValue, field: "scenario.duration_s")
    }

    @Test func unknownKeysAndValues() throws {
        try expectError(replacing: "seed = 7", with: "sede = 7", code: .unknownKey, field: "scenario.sede")
        try expectError(replacing: "kind = \"home-fleet\"", with: "kind = \"homes\"", code: .invalidValue, field: "deployment[0].kind")
        try expectError(
            replacing: "gpu = \"rtx-pro-6000\"\nhomes", with: "gpu = \"rtx-9090\"\nhomes", code: .invalidValue, field: "deployment[0].gpu")
        try expectError(
            replacing: "duration_s = 30", with: "duration_s = 30\nhours = 12", code: .invalidValue, field: "scenario.hours",
            at: "hours = 12")
        try expectError(replacing: "[[users]]\nname = \"A\"", with: "[[user]]\nname = \"A\"", code: .unknownKey, field: "user")
    }

    @Test func missingRequiredFields() throws {
        // A missing key is reported at its table's header line.
        try expectError(replacing: "rate_rps = 20\n", with: "", code: .missingField, field: "demand.rate_rps", at: "[demand]")
        try expectError(replacing: "lat = 40.0\n", with: "", code: .missingField, field: "users[0].lat", at: "[[users]]")
        try expectError(replacing: "homes = 40\n", with: "", code: .missingField, field: "deployment[0].homes", at: "[[deployment]]")
        let noKind = base.replacingOccurrences(of: "name = \"dc\"\nkind = \"datacentre\"", with: "name = \"dc\"")
        let e = try #require(error(noKind))
        #expect(e.field == "deployment[1].kind")
        #expect(e.line == line(of: "name = \"dc\"", in: noKind) - 1)  // the second [[deployment]] header
    }

    @Test func missingTablesPointAtTheEndOfTheFile() throws {
        let noDemand = base.replacingOccurrences(
            of: "[demand]\nrate_rps = 20\n[[demand.trace]]\npath = \"/nonexistent/AzureLLMInferenceTrace_conv.csv\"\n", with: "")
        #expect(noDemand != base)
        let e = try #require(error(noDemand))
        #expect(e.field == "demand")
        #expect(e.line == lineCount(noDemand))
        let noUsers = try #require(error("[demand]\nrate_rps = 1\n[[demand.trace]]\npath = \"/x/AzureLLMInferenceTrace_code.csv\"\n"))
        #expect(noUsers.field == "users")
        #expect(noUsers.line == 5)
    }

    @Test func inconsistentScenarios() throws {
        try expectError(
            replacing: "homes = 40", with: "homes = 40\ngpus = 40", code: .inconsistent, field: "deployment[0].gpus", at: "gpus = 40")
        try expectError(
            replacing: "gpus = 4", with: "gpus = 5", code: .inconsistent, field: "deployment[1].gpus_per_node", at: "gpus_per_node = 2")
        let duplicate = base.replacingOccurrences(of: "name = \"dc\"", with: "name = \"homes\"")
        let e = try #require(error(duplicate))
        #expect(e.code == .inconsistent)
        #expect(e.field == "deployment[1].name")
        #expect(e.line == line(of: "kind = \"datacentre\"", in: duplicate) - 1)
        // Every deployment sized to [scenario] gpus: the home fleet has 40, the data centre 4.
        try expectError(
            replacing: "duration_s = 30", with: "duration_s = 30\ngpus = 40", code: .inconsistent, field: "deployment[1].gpus",
            at: "gpus = 4")
        let same = base.replacingOccurrences(of: "duration_s = 30", with: "duration_s = 30\ngpus = 40")
            .replacingOccurrences(of: "gpus = 4\n", with: "gpus = 40\n").replacingOccurrences(of: "power_mw = 1", with: "power_mw = 10")
        #expect(error(same) == nil)
    }

    @Test func unknownTraceFile() throws {
        try expectError(
            replacing: "path = \"/nonexistent/AzureLLMInferenceTrace_conv.csv\"", with: "path = \"/nonexistent/my-trace.csv\"",
            code: .invalidValue, field: "demand.trace[0].path")
    }

    @Test func unreadableTraceNamesItsLineAtRunTime() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bad = directory.appendingPathComponent("AzureLLMInferenceTrace_conv.csv")
        try "this is not a trace\n1,2,3\n".write(to: bad, atomically: true, encoding: .utf8)
        let text = base.replacingOccurrences(of: "/nonexistent/AzureLLMInferenceTrace_conv.csv", with: bad.path)
        let scenario = try Scenario.read(text: text, file: "plan.toml")
        do {
            _ = try Planner(scenario: scenario).run()
            Issue.record("a malformed trace was accepted")
        } catch {
            #expect(error.code == .io)
            #expect(error.field == "demand.trace[0].path")
            #expect(error.line == line(of: "path = \"\(bad.path)\"", in: text))
            #expect(error.description.hasPrefix("plan.toml:\(error.line): demand.trace[0].path: "))
        }
    }
}
