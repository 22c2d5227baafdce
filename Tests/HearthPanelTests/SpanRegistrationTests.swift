import Foundation
import Testing

@testable import HearthPanel

@Suite struct SpanRegistrationTests {
    /// The shape span-panel-api's `register_v2` reads (values made up).
    static let response = """
        {"accessToken":"eyJ.token","tokenType":"Bearer","iatMs":1767225600000,
         "ebusBrokerUsername":"client-abc","ebusBrokerPassword":"pw-123","ebusBrokerHost":"span-nj-2316-0001.local",
         "ebusBrokerMqttsPort":8883,"ebusBrokerWsPort":9001,"ebusBrokerWssPort":9002,
         "hostname":"span-nj-2316-0001","serialNumber":"nj-2316-0001","hopPassphrase":"owner-pass"}
        """

    @Test func decodesTheRegistrationResponse() throws {
        let r = try JSONDecoder().decode(SpanRegistration.Response.self, from: Data(Self.response.utf8))
        #expect(r.accessToken == "eyJ.token")
        #expect(r.iatMs == 1_767_225_600_000)
        #expect(r.ebusBrokerWssPort == 9002)
        let c = r.credentials
        #expect(c.mqttUsername == "client-abc" && c.mqttPassword == "pw-123")
        #expect(c.brokerHost == "span-nj-2316-0001.local" && c.brokerPort == 8883)
        #expect(c.serialNumber == "nj-2316-0001")
        #expect(!c.description.contains("pw-123") && !c.description.contains("eyJ"))
    }

    @Test func portsMayBeStringsAndOptionalFieldsMayBeMissing() throws {
        let json = """
            {"accessToken":"t","ebusBrokerUsername":"u","ebusBrokerPassword":"p","ebusBrokerHost":"h","ebusBrokerMqttsPort":"8883"}
            """
        let r = try JSONDecoder().decode(SpanRegistration.Response.self, from: Data(json.utf8))
        #expect(r.ebusBrokerMqttsPort == 8883)
        #expect(r.serialNumber == nil && r.ebusBrokerWsPort == nil)
    }

    @Test(arguments: [
        #"{"ebusBrokerUsername":"u","ebusBrokerPassword":"p","ebusBrokerHost":"h","ebusBrokerMqttsPort":8883}"#,
        #"{"accessToken":"t","ebusBrokerUsername":"u","ebusBrokerPassword":"p","ebusBrokerHost":"h","ebusBrokerMqttsPort":70000}"#,
        #"{"accessToken":5,"ebusBrokerUsername":"u","ebusBrokerPassword":"p","ebusBrokerHost":"h","ebusBrokerMqttsPort":8883}"#,
        #"[]"#,
    ])
    func refusesResponsesWithoutUsableCredentials(json: String) {
        #expect(throws: (any Error).self) { try JSONDecoder().decode(SpanRegistration.Response.self, from: Data(json.utf8)) }
    }

    @Test func encodesTheRequestWithSPANFieldNames() throws {
        let data = try JSONEncoder().encode(SpanRegistration.Request(name: "hearth-node-1a2b", hopPassphrase: "owner-pass"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: String]
        #expect(object == ["name": "hearth-node-1a2b", "hopPassphrase": "owner-pass"])
        #expect(SpanRegistration.path == "/api/v2/auth/register")
    }

    @Test func aRegistererCanBeFaked() async throws {
        struct Fake: SpanRegistering {
            func register(host: String, name: String, passphrase: String) async throws -> SpanCredentials {
                SpanCredentials(accessToken: "t", mqttUsername: name, mqttPassword: passphrase, brokerHost: host)
            }
        }
        let credentials = try await Fake().register(host: "10.0.0.5", name: "n", passphrase: "p")
        #expect(credentials.brokerPort == 8883)
    }
}
