internal import Foundation

/// The parts of a Homie v5 `$description` document HearthPanel uses: nodes with their `type`, and each
/// property's `datatype`, `unit` and `format`.
///
/// Shape per the Homie convention 5.0 ("Device attributes: `$description`"): a JSON object with `homie`
/// ("5.0"), `version`, `name`, `type` and `nodes`, an object keyed by node id whose values hold `name`, `type`
/// and `properties`, keyed by property id. SPAN's panel sets node `type`s such as
/// `energy.ebus.device.distribution-enclosure.core` (see ``SpanNodeRole``).
///
/// Decoding is lossy on purpose: a node or property whose fields have the wrong JSON types is kept with those
/// fields nil rather than failing the whole document; only a document that is not an object with a `nodes`
/// object (or declares a Homie major version other than 5) is rejected.
public struct HomieDescription: Sendable, Hashable, Codable {
    public struct Property: Sendable, Hashable, Codable {
        public var name: String?
        public var datatype: String?
        public var unit: String?
        public var format: String?
        public var settable: Bool?

        public init(name: String? = nil, datatype: String? = nil, unit: String? = nil, format: String? = nil, settable: Bool? = nil) {
            self.name = name
            self.datatype = datatype
            self.unit = unit
            self.format = format
            self.settable = settable
        }

        public init(from decoder: any Decoder) throws {
            let c = try? decoder.container(keyedBy: CodingKeys.self)
            name = try? c?.decodeIfPresent(String.self, forKey: .name)
            datatype = try? c?.decodeIfPresent(String.self, forKey: .datatype)
            unit = try? c?.decodeIfPresent(String.self, forKey: .unit)
            format = try? c?.decodeIfPresent(String.self, forKey: .format)
            settable = try? c?.decodeIfPresent(Bool.self, forKey: .settable)
        }
    }

    public struct Node: Sendable, Hashable, Codable {
        public var name: String?
        public var type: String?
        public var properties: [String: Property]

        public init(name: String? = nil, type: String? = nil, properties: [String: Property] = [:]) {
            self.name = name
            self.type = type
            self.properties = properties
        }

        public init(from decoder: any Decoder) throws {
            let c = try? decoder.container(keyedBy: CodingKeys.self)
            name = try? c?.decodeIfPresent(String.self, forKey: .name)
            type = try? c?.decodeIfPresent(String.self, forKey: .type)
            properties = (try? c?.decodeIfPresent([String: Property].self, forKey: .properties)) ?? [:]
        }
    }

    public var homie: String?
    public var version: Int?
    public var name: String?
    public var type: String?
    public var nodes: [String: Node]

    public init(homie: String? = "5.0", version: Int? = nil, name: String? = nil, type: String? = nil, nodes: [String: Node]) {
        self.homie = homie
        self.version = version
        self.name = name
        self.type = type
        self.nodes = nodes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        homie = try? c.decodeIfPresent(String.self, forKey: .homie)
        version = try? c.decodeIfPresent(Int.self, forKey: .version)
        name = try? c.decodeIfPresent(String.self, forKey: .name)
        type = try? c.decodeIfPresent(String.self, forKey: .type)
        nodes = try c.decode([String: Node].self, forKey: .nodes)
    }

    /// Parses a `$description` payload; nil with a reason when it is unusable.
    public static func parse(_ text: String) -> Result<HomieDescription, HomieDescriptionError> {
        let description: HomieDescription
        do {
            description = try JSONDecoder().decode(HomieDescription.self, from: Data(text.utf8))
        } catch {
            return .failure(HomieDescriptionError(reason: "not a Homie $description object with `nodes`"))
        }
        if let homie = description.homie, homie.split(separator: ".").first != "5" {
            return .failure(HomieDescriptionError(reason: "declares Homie \(homie.prefix(16)), expected 5.x"))
        }
        return .success(description)
    }

    /// The JSON text a device publishes (keys sorted, so the same description gives the same bytes).
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}

/// Why a `$description` payload was refused.
public struct HomieDescriptionError: Error, Sendable, Hashable {
    public var reason: String
}
