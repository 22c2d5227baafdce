import Foundation

/// User-to-site round trips from distance: fibre propagation plus router hops plus the access network.
///
/// - Light in silica fibre travels at c / 1.468 ≈ 204,000 km/s, **4.9 µs per km** one way (ITU-T G.652 fibre,
///   group index ≈ 1.468); we use 5 µs/km.
/// - Fibre routes are longer than the great circle: **route factor 1.5** (typical of terrestrial paths; measured
///   inflation of Internet paths over the great circle is often 1.5–2×, e.g. Singla et al., "The Internet at the
///   Speed of Light", HotNets 2014).
/// - **Per-hop overhead 0.1 ms** each way (router forwarding and queueing on an uncongested path) for
///   `4 + km / 500` hops.
/// - Plus the deployment's access round trip (``Deployment/accessRTTms``): residential last mile ≈ 10–30 ms at the
///   median (FCC Measuring Broadband America, fixed, 2023: cable ≈ 20–25 ms, fibre ≈ 10 ms idle latency); a data
///   centre's own edge ≈ 1 ms.
public enum NetworkModel {
    public static let fibreMicrosecondsPerKm = 5.0
    public static let routeFactor = 1.5
    public static let perHopMilliseconds = 0.1
    public static let kmPerHop = 500.0
    public static let baseHops = 4.0

    /// Great-circle distance (haversine, mean Earth radius 6,371 km).
    public static func distanceKm(lat1: Double, lon1: Double, lat2: Double, lon2: Double) -> Double {
        let r = 6371.0
        let p1 = lat1 * .pi / 180, p2 = lat2 * .pi / 180
        let dp = p2 - p1, dl = (lon2 - lon1) * .pi / 180
        let a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2)
        return 2 * r * asin(min(1, a.squareRoot()))
    }

    /// Round trip over the wide-area path for a great-circle distance, ms (without the access network).
    public static func pathRTTms(km: Double) -> Double {
        let propagation = 2 * km * routeFactor * fibreMicrosecondsPerKm / 1000
        let hops = baseHops + km / kmPerHop
        return propagation + 2 * hops * perHopMilliseconds
    }

    /// Distance between a user centre and a site, never less than the metro radius.
    static func distanceKm(_ user: Scenario.UserCentre, _ site: Deployment.Site, metroKm: Double) -> Double {
        if let d = site.distanceKm { return max(d, metroKm) }
        let d = distanceKm(lat1: user.latitude, lon1: user.longitude, lat2: site.latitude ?? 0, lon2: site.longitude ?? 0)
        return max(d, metroKm)
    }
}
