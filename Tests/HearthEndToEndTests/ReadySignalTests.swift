import HearthGateway
import Testing

@Suite struct ReadySignalTests {
    struct Refused: Error {}

    @Test func waitersGetTheValueOrTheFailureWhicheverCameFirst() async throws {
        let signal = ReadySignal<Int>()
        async let early = signal.value()
        signal.fulfil(7)
        signal.fail(Refused())  // too late: the value stands
        #expect(try await early == 7)
        #expect(try await signal.value() == 7)

        let failed = ReadySignal<Int>()
        let waiting = Task { try await failed.value() }
        failed.fail(Refused())
        failed.fulfil(1)  // too late: the failure stands
        await #expect(throws: Refused.self) { try await waiting.value }
        await #expect(throws: Refused.self) { try await failed.value() }
    }

    @Test func aCancelledWaiterStopsWaiting() async throws {
        let signal = ReadySignal<Int>()
        let waiter = Task { try await signal.value() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        // Others still get the value.
        signal.fulfil(3)
        #expect(try await signal.value() == 3)
    }
}
