import HearthCore
import Testing

/// Prices per model and task class, and the budget periods they are spent over (issue 16).
@Suite struct PriceBookTests {
    static let file = #"""
        {"default": {"input": 0.1, "output": 0.4},
         "models": {"small": {"input": 0.05, "output": 0.2, "classes": {"code": {"input": 1, "output": 2}}}}}
        """#

    @Test func aModelsClassPriceWinsOverItsOwnWhichWinsOverTheDefault() throws {
        let book = try PriceBook(json: Array(Self.file.utf8))
        // $ per million tokens × tokens = micro-dollars.
        #expect(book.costMicros(model: "small", taskClass: "code", promptTokens: 1_000, completionTokens: 500) == 2_000)
        #expect(book.costMicros(model: "small", taskClass: "chat", promptTokens: 1_000, completionTokens: 500) == 150)
        #expect(book.costMicros(model: "other", taskClass: "chat", promptTokens: 1_000, completionTokens: 500) == 300)
        #expect(PriceBook.free.costMicros(model: "small", taskClass: "code", promptTokens: 10, completionTokens: 10) == 0)
        #expect(book.costMicros(model: "small", taskClass: "chat", promptTokens: -5, completionTokens: Int.max) > 0)
    }

    @Test func aMistakeInThePriceFileNamesItsField() {
        func failure(_ text: String) -> String? {
            do {
                _ = try PriceBook(json: Array(text.utf8))
                return nil
            } catch {
                return error.path
            }
        }
        #expect(failure("[]") == "$")
        #expect(failure(#"{"defaults": {}}"#) == "defaults")
        #expect(failure(#"{"default": {"input": -1, "output": 1}}"#) == "default.input")
        #expect(failure(#"{"default": {"input": 1}}"#) == "default.output")
        #expect(failure(#"{"default": {"input": true, "output": 1}}"#) == "default.input")
        #expect(
            failure(#"{"models": {"m": {"input": 1, "output": 1, "classes": {"poetry": {"input": 1, "output": 1}}}}}"#)
                == "models.m.classes.poetry")
        #expect(failure(#"{"models": {"m": {"input": 1, "output": 1e99}}}"#) == "models.m.output")
        #expect(failure(#"{"models": {"m": {"input": 1, "output": 1, "cached": 1}}}"#) == "models.m.cached")
    }

    @Test func dailyAndMonthlyPeriodsAreUTCDaysAndCalendarMonths() {
        // 2026-12-08T22:10:50Z
        let now: Int64 = 1_796_767_850
        let day = BudgetPeriod.daily.window(containing: now)
        #expect(day.start == 1_796_688_000)  // 2026-12-08T00:00:00Z
        #expect(day.end - day.start == 86_400)
        let month = BudgetPeriod.monthly.window(containing: now)
        #expect(month.start == 1_796_083_200)  // 2026-12-01
        #expect(month.end == 1_798_761_600)  // 2027-01-01
        // February of a leap year, and the first second of a month belongs to it.
        let february = BudgetPeriod.monthly.window(containing: 1_709_251_199)  // 2024-02-29T23:59:59Z
        #expect(february.start == 1_706_745_600 && february.end == 1_709_251_200)
        #expect(BudgetPeriod.monthly.window(containing: 1_709_251_200).start == 1_709_251_200)
        // Before 1970 too.
        #expect(BudgetPeriod.daily.window(containing: -1) == (-86_400, 0))
    }
}
