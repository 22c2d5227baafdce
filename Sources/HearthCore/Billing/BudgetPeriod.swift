/// How often a tenant's budget starts again: each UTC day, or each UTC calendar month.
public enum BudgetPeriod: String, Sendable, CaseIterable, Equatable {
    case daily
    case monthly

    /// The period that holds the instant `seconds` (Unix time): its start and end, Unix seconds, in UTC.
    public func window(containing seconds: Int64) -> (start: Int64, end: Int64) {
        let day: Int64 = 86_400
        let days = seconds >= 0 ? seconds / day : (seconds - day + 1) / day
        switch self {
        case .daily:
            return (days * day, (days + 1) * day)
        case .monthly:
            let (year, month, _) = CivilDate.date(fromDays: days)
            let start = CivilDate.days(year: year, month: month, day: 1)
            let end =
                month == 12 ? CivilDate.days(year: year + 1, month: 1, day: 1) : CivilDate.days(year: year, month: month + 1, day: 1)
            return (start * day, end * day)
        }
    }
}

/// A tenant's spending limit: micro-dollars per period.
public struct Budget: Sendable, Equatable {
    public var limitMicros: Int64
    public var period: BudgetPeriod

    public init(limitMicros: Int64, period: BudgetPeriod) {
        self.limitMicros = limitMicros
        self.period = period
    }
}
