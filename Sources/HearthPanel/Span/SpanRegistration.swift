/// The SPAN panel v2 registration call, `POST /api/v2/auth/register`, as Codable bodies.
///
/// Field names from span-panel-api `src/span_panel_api/auth.py` (`register_v2`): the request is
/// `{"name": ..., "hopPassphrase": ...}` (the passphrase is optional: omitting it is the "door bypass"
/// registration, done within a short window after the panel door is opened); the response carries
/// `accessToken`, `tokenType`, `iatMs`, `ebusBrokerUsername`, `ebusBrokerPassword`, `ebusBrokerHost`,
/// `ebusBrokerMqttsPort`, `ebusBrokerWsPort`, `ebusBrokerWssPort`, `hostname`, `serialNumber` and
/// `hopPassphrase`. HTTP 401/403/422 mean a wrong passphrase. The panel wants a unique `name`
/// (span-panel-api appends a random suffix). The broker's CA certificate is at `GET /api/v2/certificate/ca`.
public enum SpanRegistration {
    /// The request path.
    public static let path = "/api/v2/auth/register"
    /// Where the panel serves the PEM CA certificate its broker's TLS certificate chains to.
    public static let caCertificatePath = "/api/v2/certificate/ca"

    public struct Request: Sendable, Hashable, Codable {
        public var name: String
        public var hopPassphrase: String?

        public init(name: String, hopPassphrase: String?) {
            self.name = name
            self.hopPassphrase = hopPassphrase
        }
    }

    /// The response. The fields a client cannot work without are required; the rest are optional so a
    /// firmware that drops one still decodes. Ports are accepted as JSON numbers or numeric strings.
    public struct Response: Sendable, Hashable, Codable {
        public var accessToken: String
        public var tokenType: String?
        public var iatMs: Int64?
        public var ebusBrokerUsername: String
        public var ebusBrokerPassword: String
        public var ebusBrokerHost: String
        public var ebusBrokerMqttsPort: Int
        public var ebusBrokerWsPort: Int?
        public var ebusBrokerWssPort: Int?
        public var hostname: String?
        public var serialNumber: String?
        public var hopPassphrase: String?

        enum CodingKeys: String, CodingKey {
            case accessToken, tokenType, iatMs, ebusBrokerUsername, ebusBrokerPassword, ebusBrokerHost, ebusBrokerMqttsPort
            case ebusBrokerWsPort, ebusBrokerWssPort, hostname, serialNumber, hopPassphrase
        }

        public init(
            accessToken: String, tokenType: String? = "Bearer", iatMs: Int64? = nil, ebusBrokerUsername: String,
            ebusBrokerPassword: String, ebusBrokerHost: String, ebusBrokerMqttsPort: Int = 8883, ebusBrokerWsPort: Int? = nil,
            ebusBrokerWssPort: Int? = nil, hostname: String? = nil, serialNumber: String? = nil, hopPassphrase: String? = nil
        ) {
            self.accessToken = accessToken
            self.tokenType = tokenType
            self.iatMs = iatMs
            self.ebusBrokerUsername = ebusBrokerUsername
            self.ebusBrokerPassword = ebusBrokerPassword
            self.ebusBrokerHost = ebusBrokerHost
            self.ebusBrokerMqttsPort = ebusBrokerMqttsPort
            self.ebusBrokerWsPort = ebusBrokerWsPort
            self.ebusBrokerWssPort = ebusBrokerWssPort
            self.hostname = hostname
            self.serialNumber = serialNumber
            self.hopPassphrase = hopPassphrase
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            accessToken = try c.decode(String.self, forKey: .accessToken)
            tokenType = try c.decodeIfPresent(String.self, forKey: .tokenType)
            iatMs = try? c.decodeIfPresent(Int64.self, forKey: .iatMs)
            ebusBrokerUsername = try c.decode(String.self, forKey: .ebusBrokerUsername)
            ebusBrokerPassword = try c.decode(String.self, forKey: .ebusBrokerPassword)
            ebusBrokerHost = try c.decode(String.self, forKey: .ebusBrokerHost)
            guard let port = Self.port(c, .ebusBrokerMqttsPort) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .ebusBrokerMqttsPort, in: c, debugDescription: "ebusBrokerMqttsPort is not a port number")
            }
            ebusBrokerMqttsPort = port
            ebusBrokerWsPort = Self.port(c, .ebusBrokerWsPort)
            ebusBrokerWssPort = Self.port(c, .ebusBrokerWssPort)
            hostname = try? c.decodeIfPresent(String.self, forKey: .hostname)
            serialNumber = try? c.decodeIfPresent(String.self, forKey: .serialNumber)
            hopPassphrase = try? c.decodeIfPresent(String.self, forKey: .hopPassphrase)
        }

        private static func port(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> Int? {
            let value =
                (try? c.decodeIfPresent(Int.self, forKey: key))
                ?? (try? c.decodeIfPresent(String.self, forKey: key)).flatMap { $0.flatMap(Int.init) }
            return value.flatMap { (1...65_535).contains($0) ? $0 : nil }
        }

        /// The credentials a ``SpanPanel`` needs.
        public var credentials: SpanCredentials {
            SpanCredentials(
                accessToken: accessToken, mqttUsername: ebusBrokerUsername, mqttPassword: ebusBrokerPassword,
                brokerHost: ebusBrokerHost, brokerPort: ebusBrokerMqttsPort, serialNumber: serialNumber)
        }
    }
}

/// Registers a client with a SPAN panel (implemented over HTTP elsewhere, e.g. with AsyncHTTPClient, so this
/// module stays free of an HTTP stack).
public protocol SpanRegistering: Sendable {
    /// Registers `name` with the panel at `host` using the owner's `passphrase` and returns the broker credentials.
    func register(host: String, name: String, passphrase: String) async throws -> SpanCredentials
}
