// swift-tools-version: 6.1
import Foundation
import PackageDescription

// `HEARTH_CORE_ONLY=1 swift test --scratch-path .build-core` declares only the pure targets
// (HearthCore, HearthSim and their tests) and the panel client so the inner loop never compiles the server stack.
let coreOnly = ProcessInfo.processInfo.environment["HEARTH_CORE_ONLY"] == "1"

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let pureTargets: [Target] = [
    .target(name: "HearthCore", exclude: ["README.md"], swiftSettings: swiftSettings),
    .target(name: "HearthSim", dependencies: ["HearthCore"], exclude: ["README.md"], swiftSettings: swiftSettings),
    .testTarget(name: "HearthCoreTests", dependencies: ["HearthCore"], swiftSettings: swiftSettings),
    .testTarget(name: "HearthSimTests", dependencies: ["HearthSim", "HearthCore"], swiftSettings: swiftSettings),
]

// The home panel client: libmosquitto and Foundation only, so it builds in the fast core-only loop too.
let panelTargets: [Target] = [
    .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
    .target(
        name: "HearthPanel", dependencies: ["HearthCore", "CMosquitto"], exclude: ["README.md"],
        swiftSettings: swiftSettings),
    // A real mosquitto broker for tests (the panel's and the node's end-to-end ones), not shipped.
    .target(name: "MosquittoTestSupport", path: "Tests/MosquittoTestSupport", exclude: ["README.md"], swiftSettings: swiftSettings),
    .testTarget(
        name: "HearthPanelTests", dependencies: ["HearthPanel", "HearthCore", "HearthSim", "MosquittoTestSupport"],
        swiftSettings: swiftSettings),
]

let serverTargets: [Target] = [
    // The node agent's engine processes: pidfds and close-on-exec pipes for Swift, and the guard that ties an engine's
    // life to its agent's (Sources/hearth-engine-guard/main.c says how).
    .target(name: "CHearthProcess"),
    .executableTarget(name: "hearth-engine-guard"),
    .target(
        name: "HearthIdentity",
        dependencies: [
            "HearthCore",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ],
        exclude: ["README.md"], swiftSettings: swiftSettings
    ),
    .target(name: "HearthProtocol", dependencies: ["HearthCore"], exclude: ["README.md"], swiftSettings: swiftSettings),
    .target(
        name: "HearthLogging",
        dependencies: [.product(name: "Logging", package: "swift-log")],
        exclude: ["README.md"], swiftSettings: swiftSettings
    ),
    .target(
        name: "HearthTunnel",
        dependencies: [
            "HearthProtocol",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ],
        exclude: ["README.md"], swiftSettings: swiftSettings
    ),
    .target(
        name: "HearthGateway",
        dependencies: [
            "HearthCore", "HearthProtocol", "HearthTunnel", "HearthIdentity",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            // The HTTP parts Hummingbird's channels carry: a streamed answer is written to the client's channel directly.
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        exclude: ["README.md"], swiftSettings: swiftSettings
    ),
    .target(
        name: "HearthNode",
        dependencies: [
            "HearthCore", "HearthProtocol", "HearthTunnel", "HearthPanel", "HearthIdentity", "CHearthProcess",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        exclude: ["README.md"], swiftSettings: swiftSettings
    ),
    .executableTarget(
        name: "hearth",
        dependencies: [
            "HearthCore", "HearthProtocol", "HearthGateway", "HearthNode", "HearthSim", "HearthPanel", "HearthIdentity", "HearthLogging",
            "CHearthProcess", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "HearthProtocolTests",
        dependencies: [
            "HearthProtocol", "HearthTunnel", "HearthCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ],
        swiftSettings: swiftSettings
    ),
    .testTarget(
        name: "HearthEndToEndTests",
        dependencies: [
            "HearthCore", "HearthProtocol", "HearthGateway", "HearthNode",
            "HearthTunnel", "HearthPanel", "HearthSim", "HearthIdentity", "HearthLogging", "CHearthProcess", "MosquittoTestSupport",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOFoundationCompat", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        swiftSettings: swiftSettings
    ),
]

let package = Package(
    name: "Hearth",
    platforms: [.macOS(.v15)],
    products: coreOnly ? [] : [.executable(name: "hearth", targets: ["hearth"])],
    dependencies: coreOnly
        ? []
        : [
            .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
            .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
            .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
            .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
            .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
            .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
            .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
            .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
            .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
            .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
            .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
            .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
            .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
            .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
            .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        ],
    targets: coreOnly ? pureTargets + panelTargets : pureTargets + panelTargets + serverTargets
)
