extension Scheduler {
    /// Decides like ``decide(_:fleet:now:)`` with the request's security filters (``RequestSecurity/filters``)
    /// added after the configured ones for this one decision.
    ///
    /// A `.refuse(nil, .noEligibleNode)` for a `sensitive` or `confidential` request means no node meets its data
    /// class: answer 503 with ``DataClassFilter/refusalMessage``.
    public mutating func decide(
        _ request: SchedulingRequest, security: RequestSecurity, fleet: FleetState, now: Double
    ) -> SchedulingDecision {
        let saved = configuration.filters
        configuration.filters = saved + security.filters
        defer { configuration.filters = saved }
        return decide(request, fleet: fleet, now: now)
    }
}
