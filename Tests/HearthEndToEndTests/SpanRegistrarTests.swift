import Foundation
import HearthNode
import HearthPanel
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// The SPAN v2 registration call over real HTTP, against a stand-in panel that checks the passphrase.
@Suite struct SpanRegistrarTests {
    @Test func registrationReturnsBrokerCredentialsAndAWrongPassphraseIsAClearError() async throws {
        let (bound, boundSink) = AsyncStream<Int>.makeStream()
        let router = Router()
        router.post("/api/v2/auth/register") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 4096)
            let fields = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
            guard fields?["hopPassphrase"] as? String == "door-code", fields?["name"] is String else {
                return Response(status: .unauthorized)
            }
            let answer =
                #"{"accessToken":"tok","tokenType":"Bearer","ebusBrokerUsername":"u","ebusBrokerPassword":"p","ebusBrokerHost":"127.0.0.1","ebusBrokerMqttsPort":"8883","serialNumber":"nt-1"}"#
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: answer)))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in

                boundSink.yield(channel.localAddress?.port ?? 0)
            })
        let group = ServiceGroup(configuration: .init(services: [app], logger: .init(label: "span")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = bound.makeAsyncIterator()
            let panelPort = try #require(await iterator.next())
            let registrar = SpanHTTPRegistrar()
            let credentials = try await registrar.register(host: "127.0.0.1:\(panelPort)", name: "hearth-test", passphrase: "door-code")
            #expect(credentials.mqttUsername == "u")
            #expect(credentials.brokerPort == 8883)
            #expect(credentials.accessToken == "tok")
            await #expect(throws: SpanHTTPRegistrar.Failure.self) {
                _ = try await registrar.register(host: "127.0.0.1:\(panelPort)", name: "hearth-test", passphrase: "wrong")
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
