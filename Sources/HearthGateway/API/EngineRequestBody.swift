import Foundation

/// Writes the body the gateway sends engines: only allowed fields (``EngineRequestFields``), each key once and
/// unescaped, and the token limit as one `max_tokens`.
///
/// Most requests need no change, and then the client's bytes go as they are: the check is one byte-level pass over
/// the top-level keys. When something must change, the body is rebuilt from the original value bytes (never
/// re-encoded, so numbers and text reach the engine exactly as sent).
enum EngineRequestBody {
    /// The rewritten body, or nil when the client's bytes may go unchanged.
    ///
    /// `fields`: the body as the gateway decoded and validated it (duplicate keys folded, the last wins);
    /// `maxTokens`: the effective token limit when the client sent one under any name.
    static func rewrite(_ body: Data, fields: [String: Any], endpoint: CompletionRequest.Endpoint, maxTokens: Int?) -> [UInt8]? {
        body.withUnsafeBytes { rewrite($0, fields: fields, endpoint: endpoint, maxTokens: maxTokens) }
    }

    private static func rewrite(
        _ bytes: UnsafeRawBufferPointer, fields: [String: Any], endpoint: CompletionRequest.Endpoint, maxTokens: Int?
    ) -> [UInt8]? {
        let allowed = EngineRequestFields.allowed(for: endpoint)
        let limitsSent = EngineRequestFields.tokenLimits.filter { fields[$0] != nil }
        let mustRewrite = fields.keys.contains { !allowed.contains($0) } || !(limitsSent.isEmpty || limitsSent == ["max_tokens"])
        guard let scanned = JSONObjectMembers(bytes) else {
            // Not reachable for a body the parser accepted; rebuild from the decoded fields rather than forward bytes
            // the gateway cannot read.
            return reencoded(fields, allowed: allowed, maxTokens: limitsSent.isEmpty ? nil : maxTokens)
        }
        let members = scanned.members
        // `stream_options` is the one nested object the gateway reads (`include_usage`) and the node sets: it reaches
        // the engine with that key alone, once, unescaped, or is written anew.
        let options = fields["stream_options"] as? [String: Any]
        let optionsAsSent =
            options.map { options in
                members.last {
                    $0.key.count == 14
                        && String(decoding: UnsafeRawBufferPointer(rebasing: bytes[$0.key]), as: UTF8.self) == "stream_options"
                }
                .map { isCanonical(UnsafeRawBufferPointer(rebasing: bytes[$0.value]), options: options) } ?? false
            } ?? true
        if !mustRewrite, optionsAsSent, members.count == fields.count, !members.contains(where: \.escapedKey) { return nil }

        var names: [String] = []
        names.reserveCapacity(members.count)
        var last: [String: Int] = [:]
        for (index, member) in members.enumerated() {
            let raw = UnsafeRawBufferPointer(rebasing: bytes[member.key])
            let name = member.escapedKey ? decodedKey(raw) : String(decoding: raw, as: UTF8.self)
            names.append(name)
            last[name] = index
        }
        let limits = Set(EngineRequestFields.tokenLimits)
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(bytes.count + 24)
        for (index, member) in members.enumerated() {
            let name = names[index]
            // The last duplicate is the one the gateway validated; allowed names are plain ASCII, written unescaped.
            guard last[name] == index, allowed.contains(name), !limits.contains(name) else { continue }
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: "\":".utf8)
            if name == "stream_options", let options, !optionsAsSent {
                out.append(contentsOf: "{\"include_usage\":\(options["include_usage"] as? Bool ?? false)}".utf8)
                continue
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[member.value]))
        }
        if let maxTokens, !limitsSent.isEmpty {
            if out.count > 1 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: "\"max_tokens\":\(maxTokens)".utf8)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Whether a `stream_options` object holds `include_usage` at most, each key once and unescaped.
    private static func isCanonical(_ value: UnsafeRawBufferPointer, options: [String: Any]) -> Bool {
        guard let members = JSONObjectMembers(value)?.members, members.count == options.count else { return false }
        return options.keys.allSatisfy { $0 == "include_usage" } && !members.contains(where: \.escapedKey)
    }

    /// A key written with escapes, decoded as JSON decodes it (an undecodable one never matches an allowed name).
    private static func decodedKey(_ raw: UnsafeRawBufferPointer) -> String {
        let quoted = [UInt8(ascii: "\"")] + Array(raw) + [UInt8(ascii: "\"")]
        return (try? JSONSerialization.jsonObject(with: Data(quoted), options: [.fragmentsAllowed]) as? String) ?? ""
    }

    private static func reencoded(_ fields: [String: Any], allowed: Set<String>, maxTokens: Int?) -> [UInt8]? {
        var kept = fields.filter { allowed.contains($0.key) && !EngineRequestFields.tokenLimits.contains($0.key) }
        if let maxTokens { kept["max_tokens"] = maxTokens }
        return (try? JSONSerialization.data(withJSONObject: kept)).map { Array($0) }
    }
}
