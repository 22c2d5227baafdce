import HearthCore
import Testing

@Suite struct QuietHoursTests {
    @Test func aWindowOverMidnightHoldsBothSidesAndItsEndIsOut() throws {
        let night = try #require(QuietHours("22:00-07:00"))
        #expect(night.contains(minuteOfDay: 22 * 60))
        #expect(night.contains(minuteOfDay: 23 * 60 + 59))
        #expect(night.contains(minuteOfDay: 0))
        #expect(night.contains(minuteOfDay: 6 * 60 + 59))
        #expect(!night.contains(minuteOfDay: 7 * 60))
        #expect(!night.contains(minuteOfDay: 12 * 60))
        #expect(night.description == "22:00-07:00")
    }

    @Test func aDaytimeWindowAndAnEmptyOne() throws {
        let afternoon = try #require(QuietHours("13:30-15:00"))
        #expect(afternoon.contains(minuteOfDay: 13 * 60 + 30) && !afternoon.contains(minuteOfDay: 13 * 60 + 29))
        #expect(!(try #require(QuietHours("08:00-08:00"))).contains(minuteOfDay: 8 * 60))
    }

    @Test func anythingButTwoTimesIsRefused() {
        for text in [
            "", "22:00", "22:00-7:00", "24:00-07:00", "22:60-07:00", "22:00-07:00-08:00", "ab:cd-ef:gh", "２２:００-07:00", "-1:00-02:00",
        ] {
            #expect(QuietHours(text) == nil, "\(text)")
        }
    }
}
