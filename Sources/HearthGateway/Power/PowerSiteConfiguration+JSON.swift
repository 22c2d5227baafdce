public import Foundation
import HearthCore

extension PowerSiteConfiguration {
    /// Why a sites file was refused, naming the field.
    public struct FileError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the operator's sites file (JSON):
    /// ```json
    /// { "transformers": [{"id": "t1", "kva": 25, "power_factor": 0.9, "margin": 0.1, "unmanaged_load_watts": 4000,
    ///                     "targets": ["TRANSFORMER:T-1187"]}],
    ///   "nodes": {"node-1": {"home": "home-1", "transformer": "t1", "groups": ["feeder-7"], "targets": ["SITE:4411"]}} }
    /// ```
    /// `targets` are the strings the utility's OpenADR events name a transformer or a site by; a node takes its
    /// transformer's and its own (like `groups`, which they join).
    public static func decode(_ data: Data) throws -> PowerSiteConfiguration {
        struct File: Decodable {
            struct Transformer: Decodable {
                var id: String
                var kva: Double
                var power_factor: Double?
                var margin: Double?
                var unmanaged_load_watts: Double?
                var targets: [String]?
            }
            struct Node: Decodable {
                var home: String
                var transformer: String?
                var groups: [String]?
                var targets: [String]?
            }
            var transformers: [Transformer]?
            var nodes: [String: Node]?
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch let DecodingError.typeMismatch(_, context) {
            throw FileError(description: "sites file: wrong type at \(Self.path(context.codingPath))")
        } catch let DecodingError.keyNotFound(key, context) {
            throw FileError(description: "sites file: missing \(Self.path(context.codingPath + [key]))")
        } catch {
            throw FileError(description: "sites file: not valid JSON (\(error))")
        }
        var configuration = PowerSiteConfiguration()
        var ids: Set<String> = []
        var transformerTargets: [String: [String]] = [:]
        for (i, t) in (file.transformers ?? []).enumerated() {
            guard !t.id.isEmpty, ids.insert(t.id).inserted else { throw FileError(description: "transformers[\(i)].id: empty or repeated") }
            guard t.kva.isFinite, t.kva > 0, t.kva <= 10_000 else {
                throw FileError(description: "transformers[\(i)].kva: must be 0–10000")
            }
            let pf = t.power_factor ?? 0.9
            guard pf.isFinite, pf > 0, pf <= 1 else { throw FileError(description: "transformers[\(i)].power_factor: must be in (0, 1]") }
            let margin = t.margin ?? 0.1
            guard margin.isFinite, margin >= 0, margin < 1 else {
                throw FileError(description: "transformers[\(i)].margin: must be in [0, 1)")
            }
            configuration.transformers.append(.init(id: t.id, ratingKVA: t.kva, powerFactor: pf, margin: margin))
            if let targets = t.targets {
                guard targets.allSatisfy(Self.isTarget) else {
                    throw FileError(description: "transformers[\(i)].targets: each must be 1–256 characters")
                }
                transformerTargets[t.id] = targets
            }
            if let load = t.unmanaged_load_watts {
                guard load.isFinite, load >= 0 else { throw FileError(description: "transformers[\(i)].unmanaged_load_watts: must be ≥ 0") }
                configuration.unmanagedLoadWatts[t.id] = load
            }
        }
        for (node, site) in file.nodes ?? [:] {
            guard !site.home.isEmpty else { throw FileError(description: "nodes.\(node).home: empty") }
            if let transformer = site.transformer, !ids.contains(transformer) {
                throw FileError(description: "nodes.\(node).transformer: no transformer with id \"\(transformer)\"")
            }
            guard (site.targets ?? []).allSatisfy(Self.isTarget) else {
                throw FileError(description: "nodes.\(node).targets: each must be 1–256 characters")
            }
            let groups = Set((site.groups ?? []) + (site.targets ?? []) + (site.transformer.flatMap { transformerTargets[$0] } ?? []))
            configuration.sites[NodeID(node)] = Site(homeID: site.home, transformerID: site.transformer, groups: groups)
        }
        return configuration
    }

    private static func isTarget(_ text: String) -> Bool { !text.isEmpty && text.utf8.count <= 256 }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
}
