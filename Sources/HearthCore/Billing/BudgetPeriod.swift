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
            let (year, month, _) = Self.civil(fromDays: days)
            let start = Self.days(year: year, month: month, day: 1)
            let end = month == 12 ? Self.days(year: year + 1, month: 1, day: 1) : Self.days(year: year, month: month + 1, day: 1)
            return (start * day, end * day)
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day count since 1970-01-01 (`civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
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
