/// What a node found when it tested its engine's `cache_salt` at join: the same prompt sent twice with one salt
/// and once with another, reading the engine's own cache-hit counts.
///
/// A gateway sends the tenant's salt only to an engine that answered ``honoured``; every other engine gets no
/// prompt-cache sharing at all. An engine kind is no proof: `--engine openai` in front of a llama-server ignores
/// the salt, and a tenant could then time another tenant's cached prompt.
public enum CacheSaltProbeResult: String, Sendable, Codable, CaseIterable {
    /// The same salt hit the cache and another salt did not.
    case honoured
    /// Another salt hit the cache too: the engine ignores `cache_salt` (llama.cpp's server).
    case ignored
    /// The engine reports no cache hits (or failed the probe), so nothing was shown.
    case unmeasurable
}
