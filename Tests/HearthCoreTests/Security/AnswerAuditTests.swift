import HearthCore
import Testing

@Suite struct AnswerAuditTests {
    let audit = AnswerAudit(requestBytes: 2_000, maxOutputTokens: 100)

    @Test func anHonestClaimIsBilledAsClaimed() {
        let bill = audit.bill(claimedPrompt: 412, claimedCompletion: 37, relayed: .init(contentEvents: 35), estimatedPromptTokens: 500)
        #expect(bill == .init(promptTokens: 412, completionTokens: 37, lies: []))
    }

    @Test func negativeCountsAreLiesAndBillTheGatewaysOwnFigures() {
        let bill = audit.bill(claimedPrompt: -1, claimedCompletion: -5, relayed: .init(contentEvents: 12), estimatedPromptTokens: 480)
        #expect(bill.promptTokens == 480)
        #expect(bill.completionTokens == 12)
        #expect(bill.lies == [.negativeTokens])
    }

    @Test func hugeCountsCannotOverflowOrPushATenantPastItsLimits() {
        let bill = audit.bill(
            claimedPrompt: Int.max, claimedCompletion: Int.max, relayed: .init(contentEvents: Int.max), estimatedPromptTokens: Int.max)
        #expect(bill.promptTokens == audit.promptTokenCeiling)
        #expect(bill.completionTokens == 100)
        #expect(bill.totalTokens == audit.promptTokenCeiling + 100)
        #expect(Set(bill.lies) == [.promptTokensOverCeiling, .completionTokensOverMaximum])
    }

    @Test func aPromptClaimAboveWhatTheBodyCanHoldIsALie() {
        #expect(audit.promptTokenCeiling == 2_000 + AnswerAudit.templateTokensFixed)
        let bill = audit.bill(claimedPrompt: 50_000, claimedCompletion: 10, relayed: .init(contentEvents: 10), estimatedPromptTokens: 500)
        #expect(bill.promptTokens == 500)
        #expect(bill.lies == [.promptTokensOverCeiling])
    }

    @Test func aClaimJustPastABoundIsCorrectedNotPunished() {
        // An engine that counts its end-of-sequence token, or ignores max_tokens by a little: billed at the bound.
        let over = audit.bill(claimedPrompt: 300, claimedCompletion: 104, relayed: .init(contentEvents: 100), estimatedPromptTokens: 300)
        #expect(over == .init(promptTokens: 300, completionTokens: 100, lies: []))
        let under = audit.bill(claimedPrompt: 300, claimedCompletion: 30, relayed: .init(contentEvents: 34), estimatedPromptTokens: 300)
        #expect(under == .init(promptTokens: 300, completionTokens: 34, lies: []))
    }

    @Test func underBillingBelowWhatWasRelayedIsALie() {
        let bill = audit.bill(claimedPrompt: 300, claimedCompletion: 0, relayed: .init(contentEvents: 40), estimatedPromptTokens: 300)
        #expect(bill.completionTokens == 40)
        #expect(bill.lies == [.completionTokensUnderRelayed])
    }

    @Test func withoutAClaimTheGatewayBillsWhatItCounted() {
        let bill = audit.bill(claimedPrompt: nil, claimedCompletion: nil, relayed: .init(contentEvents: 7), estimatedPromptTokens: 90)
        #expect(bill == .init(promptTokens: 90, completionTokens: 7, lies: []))
    }

    @Test func headsTheGatewayRelays() {
        for status in [200, 201, 400, 404, 413, 422, 429, 500, 503, 599] { #expect(AnswerAudit.isRelayableStatus(status), "\(status)") }
        for status in [-1, 0, 99, 100, 101, 204, 205, 301, 304, 600, 1000, Int.max, Int.min] {
            #expect(!AnswerAudit.isRelayableStatus(status), "\(status)")
        }
        #expect(AnswerAudit.isRelayableContentType("text/event-stream", status: 200))
        #expect(AnswerAudit.isRelayableContentType("application/json; charset=utf-8", status: 200))
        #expect(!AnswerAudit.isRelayableContentType("text/html", status: 200))
        #expect(AnswerAudit.isRelayableContentType("text/plain", status: 503))
        #expect(!AnswerAudit.isRelayableContentType("application/json\r\nSet-Cookie: a=b", status: 200))
        #expect(!AnswerAudit.isRelayableContentType(String(repeating: "a", count: 200), status: 500))
    }
}

@Suite struct NodeConductTests {
    @Test func lyingPastTheThresholdWithinTheWindowQuarantines() {
        var conduct = NodeConduct(threshold: 3, windowSeconds: 60)
        let node = NodeID("liar")
        #expect(conduct.lied(node, "a", now: 0) == .tolerated(strikes: 1))
        #expect(conduct.lied(node, "b", now: 10) == .tolerated(strikes: 2))
        guard case .quarantine(let reason) = conduct.lied(node, "negative-token-count", now: 20) else {
            Issue.record("three lies in a minute must quarantine")
            return
        }
        #expect(reason.contains("negative-token-count"))
    }

    @Test func oldLiesAgeOut() {
        var conduct = NodeConduct(threshold: 2, windowSeconds: 60)
        let node = NodeID("n")
        #expect(conduct.lied(node, "a", now: 0) == .tolerated(strikes: 1))
        #expect(conduct.lied(node, "a", now: 61) == .tolerated(strikes: 1))
        #expect(conduct.strikes(of: node, now: 200) == 0)
        #expect(conduct.strikes(of: NodeID("other"), now: 0) == 0)
    }
}

@Suite struct MisbehaviourQuarantineTests {
    @Test func aLiarIsQuarantinedForMisbehaviourAndOnlyAnOperatorLiftsIt() {
        var policy = NodeTrustPolicyTests.enrolled()
        let node = NodeTrustPolicyTests.node
        let actions = policy.handle(.misbehaved(node), now: 10)
        #expect(actions.contains(.quarantine(node, .misbehaviour)))
        #expect(actions.contains(.failOverInFlight(node)))
        #expect(policy.nodes[node]?.state == .quarantined)
        // A fresh attestation does not lift it, an operator does.
        _ = policy.handle(.renewalRequested(NodeTrustPolicyTests.attestation(at: 20)), now: 20)
        #expect(policy.nodes[node]?.state == .quarantined)
        _ = policy.handle(.operatorRelease(node), now: 30)
        #expect(policy.nodes[node]?.state == .trusted)
        // A second report while already quarantined does nothing more.
        _ = policy.handle(.misbehaved(node), now: 40)
        #expect(policy.handle(.misbehaved(node), now: 41).isEmpty)
    }
}
