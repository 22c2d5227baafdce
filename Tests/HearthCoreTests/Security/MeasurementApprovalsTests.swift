import HearthCore
import Testing

/// Staged roll-outs of agent, engine and model releases (issue 16): approve the new digest, retire the old.
@Suite struct MeasurementApprovalsTests {
    @Test func trustOnEnrollmentLearnsDigestsUntilTheOperatorRetiresOne() {
        var approvals = MeasurementApprovals(configured: [])
        approvals.enrolled("release-1")
        #expect(approvals.allowed == ["release-1"])
        #expect(approvals.mayEnroll("release-2"))
        // The new release is approved before nodes upgrade: both run side by side.
        approvals.decide(.approved, "release-2")
        #expect(approvals.allowed == ["release-1", "release-2"])
        // The old one retired: renewals on it fail, enrollments on it are refused, learning it again does nothing.
        approvals.decide(.retired, "release-1")
        #expect(approvals.allowed == ["release-2"])
        #expect(!approvals.mayEnroll("release-1"))
        approvals.enrolled("release-1")
        #expect(approvals.allowed == ["release-2"])
        // A retirement taken back.
        approvals.decide(.approved, "release-1")
        #expect(approvals.allowed == ["release-1", "release-2"])
    }

    @Test func aFixedListAllowsOnlyItsDigestsAndTheOperatorsApprovals() {
        var approvals = MeasurementApprovals(configured: ["a"])
        approvals.enrolled("b")
        #expect(approvals.allowed == ["a"])
        #expect(!approvals.mayEnroll("b"))
        approvals.decide(.approved, "b")
        #expect(approvals.mayEnroll("b"))
        approvals.decide(.retired, "a")
        #expect(approvals.allowed == ["b"])
        // Decisions read back from the store, in order: the latest about a digest holds.
        approvals.replaceDecisions([("c", .approved), ("c", .retired), ("a", .approved)])
        #expect(approvals.allowed == ["a"])
        #expect(approvals.retired == ["c"])
    }
}
