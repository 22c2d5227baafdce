internal import CMosquitto

/// libmosquitto's process-wide setup. `mosquitto_lib_init` must run once before any client exists; it is never
/// undone (`mosquitto_lib_cleanup` would break clients still alive elsewhere in the process).
enum MosquittoLibrary {
    static let initialized: Bool = mosquitto_lib_init() == 0

    static func errorText(_ rc: Int32) -> String {
        String(cString: mosquitto_strerror(rc))
    }

    static func connackText(_ rc: Int32) -> String {
        String(cString: mosquitto_connack_string(rc))
    }
}
