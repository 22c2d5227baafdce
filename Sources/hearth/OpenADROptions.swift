import ArgumentParser
import HearthGateway

/// How `hearth gateway` reaches its utility's OpenADR 3.1 VTN (docs/POWER.md, "OpenADR").
struct OpenADROptions: ParsableArguments {
    @Option(help: "Base URL of the utility's OpenADR 3.1 VTN (grid events); the client secret comes from HEARTH_OPENADR_CLIENT_SECRET.")
    var openadrUrl: String?

    @Option(help: "OAuth2 client id at the OpenADR VTN.")
    var openadrClientId: String?

    @Option(help: "This VEN's name at the VTN: registered under /vens and named in reports.")
    var openadrVenName: String = "hearth-gateway"

    @Option(
        help:
            "A VEN-wide target (repeatable): an event naming it applies to every node. Transformer and site targets go in the power sites file."
    )
    var openadrTarget: [String] = []

    @Option(help: "Seconds between polls of the VTN's programs and events.")
    var openadrPollSeconds: Double = 5

    @Option(help: "The VTN's OAuth2 token endpoint (default: the one its /auth/server names, else /auth/token).")
    var openadrTokenUrl: String?

    @Option(
        help:
            "The URL at which the VTN reaches this gateway's /openadr/notifications: subscribes to program and event changes, so events apply without waiting for a poll."
    )
    var openadrCallbackUrl: String?

    func configuration(environment: [String: String]) throws -> OpenADRConfiguration? {
        guard let openadrUrl else { return nil }
        guard let id = openadrClientId, let secret = environment["HEARTH_OPENADR_CLIENT_SECRET"] else {
            throw ValidationError("--openadr-url needs --openadr-client-id and HEARTH_OPENADR_CLIENT_SECRET")
        }
        guard openadrPollSeconds.isFinite, openadrPollSeconds >= 0.1, openadrPollSeconds <= 3_600 else {
            throw ValidationError("--openadr-poll-seconds must be 0.1–3600")
        }
        guard !openadrVenName.isEmpty, openadrVenName.utf8.count <= 128 else {
            throw ValidationError("--openadr-ven-name must be 1–128 characters")
        }
        if let callback = openadrCallbackUrl, !(callback.hasPrefix("https://") || callback.hasPrefix("http://")) {
            throw ValidationError("--openadr-callback-url must be an absolute http(s) URL")
        }
        var configuration = OpenADRConfiguration(baseURL: openadrUrl, clientID: id, clientSecret: secret)
        configuration.venName = openadrVenName
        configuration.targets = openadrTarget
        configuration.pollInterval = .milliseconds(Int64(openadrPollSeconds * 1000))
        configuration.tokenPath = openadrTokenUrl
        configuration.callbackURL = openadrCallbackUrl
        return configuration
    }
}
