import Foundation

/// What tokens cost, per model and task class, in US dollars per million tokens; a bill is in micro-dollars (an
/// integer, so that sums are exact). A model not listed costs the `default` price, or nothing without one.
///
/// The file a gateway reads (`hearth gateway --prices FILE`):
/// ```json
/// {"default": {"input": 0.10, "output": 0.40},
///  "models": {"SmolLM2-135M-Instruct": {"input": 0.05, "output": 0.20,
///                                        "classes": {"code": {"input": 0.08, "output": 0.30}}}}}
/// ```
public struct PriceBook: Sendable, Equatable {
    public struct Price: Sendable, Equatable {
        /// Dollars per million prompt tokens.
        public var input: Double
        /// Dollars per million completion tokens.
        public var output: Double

        public init(input: Double, output: Double) {
            self.input = input
            self.output = output
        }
    }

    public struct ModelPrices: Sendable, Equatable {
        public var price: Price
        /// A task class's own price for this model (`code`, `chat`, ...).
        public var classes: [String: Price]

        public init(price: Price, classes: [String: Price] = [:]) {
            self.price = price
            self.classes = classes
        }
    }

    public var defaultPrice: Price?
    public var models: [String: ModelPrices]

    public init(defaultPrice: Price? = nil, models: [String: ModelPrices] = [:]) {
        self.defaultPrice = defaultPrice
        self.models = models
    }

    /// No prices: everything is free, and no tenant has spent anything.
    public static let free = PriceBook()

    public var isFree: Bool { defaultPrice == nil && models.isEmpty }

    public func price(model: String, taskClass: String) -> Price? {
        guard let prices = models[model] else { return defaultPrice }
        return prices.classes[taskClass] ?? prices.price
    }

    /// Micro-dollars for these tokens (rounded to the nearest; bounded, never overflowing).
    public func costMicros(model: String, taskClass: String, promptTokens: Int, completionTokens: Int) -> Int64 {
        guard let price = price(model: model, taskClass: taskClass) else { return 0 }
        // $ per million tokens × tokens = micro-dollars.
        let micros = Double(max(0, promptTokens)) * price.input + Double(max(0, completionTokens)) * price.output
        return Int64(min(micros.rounded(), Double(Self.largestCostMicros)))
    }

    /// A cost no single request can exceed: $1e12.
    static let largestCostMicros: Int64 = 1_000_000_000_000_000_000

    /// The most a million tokens may be priced at: a price beyond it is a typing error, not a price.
    public static let highestPrice = 1_000_000.0

    /// A problem in a price file: the field's path and what is wrong with it.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }
    }

    /// Reads a price file (see the type's documentation); every problem names its field.
    public init(json: [UInt8]) throws(Failure) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] else {
            throw Failure(path: "$", message: "not a JSON object")
        }
        for key in object.keys where !["default", "models"].contains(key) {
            throw Failure(path: key, message: "unknown field (expected default, models)")
        }
        self.init()
        if let value = object["default"] { defaultPrice = try Self.price(value, path: "default") }
        if let value = object["models"] {
            guard let models = value as? [String: Any] else { throw Failure(path: "models", message: "must be an object of models") }
            for (model, entry) in models {
                let path = "models.\(model)"
                guard let entry = entry as? [String: Any] else { throw Failure(path: path, message: "must be an object") }
                var classes: [String: Price] = [:]
                if let value = entry["classes"] {
                    guard let byClass = value as? [String: Any] else {
                        throw Failure(path: path + ".classes", message: "must be an object of task classes")
                    }
                    for (taskClass, price) in byClass {
                        guard TaskClass(rawValue: taskClass) != nil else {
                            throw Failure(
                                path: "\(path).classes.\(taskClass)",
                                message: "unknown task class (one of \(TaskClass.allCases.map(\.rawValue).joined(separator: ", ")))")
                        }
                        classes[taskClass] = try Self.price(price, path: "\(path).classes.\(taskClass)")
                    }
                }
                var own = entry
                own["classes"] = nil
                self.models[model] = ModelPrices(price: try Self.price(own, path: path), classes: classes)
            }
        }
    }

    private static func price(_ value: Any, path: String) throws(Failure) -> Price {
        guard let fields = value as? [String: Any] else { throw Failure(path: path, message: "must be {\"input\": ..., \"output\": ...}") }
        for key in fields.keys where !["input", "output"].contains(key) {
            throw Failure(path: "\(path).\(key)", message: "unknown field (expected input, output)")
        }
        func dollars(_ key: String) throws(Failure) -> Double {
            guard let number = fields[key] as? NSNumber, String(cString: number.objCType) != "c" else {
                throw Failure(path: "\(path).\(key)", message: "must be a number of dollars per million tokens")
            }
            let value = number.doubleValue
            guard value.isFinite, value >= 0, value <= highestPrice else {
                throw Failure(path: "\(path).\(key)", message: "must be between 0 and \(Int(highestPrice))")
            }
            return value
        }
        return Price(input: try dollars("input"), output: try dollars("output"))
    }
}
