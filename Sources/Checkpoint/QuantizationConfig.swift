public import Foundation
public import TensorIO

/// `quantization_config` of config.json: compressed-tensors (K2-Thinking) or FP8 blocks (K2-Instruct,
/// DeepSeek-V3), anything else kept by name.
public enum QuantizationConfig: Sendable, Equatable {
    case compressedTensors(CompressedTensorsConfig)
    case fp8Block(FP8BlockConfig)
    /// A method ingot does not read (its name).
    case other(method: String)

    /// `quant_method` as written.
    public var method: String {
        switch self {
        case .compressedTensors: "compressed-tensors"
        case .fp8Block: "fp8"
        case .other(let m): m
        }
    }

    init(reader r: ConfigReader) throws(CheckpointError) {
        let method = try r.string("quant_method")
        switch method {
        case "compressed-tensors": self = .compressedTensors(try CompressedTensorsConfig(reader: r))
        case "fp8": self = .fp8Block(try FP8BlockConfig(reader: r))
        default: self = .other(method: method)
        }
    }
}

/// DeepSeek-V3's FP8 convention: `weight` F8_E4M3 with `weight_scale_inv` F32 per block.
public struct FP8BlockConfig: Sendable, Equatable {
    /// Block rows × columns, [128, 128] for DeepSeek-V3.
    public let blockSize: [Int]
    /// "e4m3".
    public let format: String
    /// "dynamic" (activations quantized at run time).
    public let activationScheme: String

    init(reader r: ConfigReader) throws(CheckpointError) {
        let block = try r.ints("weight_block_size")
        guard block.count == 2, block.allSatisfy({ $0 > 0 }) else {
            throw .invalidField(file: r.file, field: r.prefix + "weight_block_size", found: "\(block)", expected: "[rows, columns]")
        }
        blockSize = block
        format = try r.string("fmt", default: "e4m3")
        activationScheme = try r.string("activation_scheme", default: "dynamic")
    }
}

/// compressed-tensors `QuantizationArgs` for weights.
public struct QuantizationArgs: Sendable, Equatable {
    public let numBits: Int
    /// "int" or "float".
    public let type: String
    public let symmetric: Bool
    /// "tensor", "channel", "group", "block", "token", "tensor_group".
    public let strategy: String
    /// Columns per scale for the group strategy.
    public let groupSize: Int?
    /// nil, "group" or "weight" (aliases resolved).
    public let actorder: String?

    /// Creates arguments (recipes and tests build them directly).
    public init(numBits: Int, type: String, symmetric: Bool, strategy: String, groupSize: Int?, actorder: String? = nil) {
        self.numBits = numBits
        self.type = type
        self.symmetric = symmetric
        self.strategy = strategy
        self.groupSize = groupSize
        self.actorder = actorder
    }

    init(reader r: ConfigReader) throws(CheckpointError) {
        numBits = try r.int("num_bits", min: 1)
        type = try r.string("type", default: "int")
        symmetric = try r.bool("symmetric", default: true)
        strategy = try r.string("strategy", default: "tensor")
        groupSize = try r.optionalInt("group_size", min: 1)
        let order = try r.optionalString("actorder")
        actorder = order.map { $0 == "dynamic" ? "group" : $0 == "static" ? "weight" : $0 }
        if strategy == "group" && groupSize == nil {
            throw .missingField(file: r.file, field: r.prefix + "group_size")
        }
        guard ["int", "float"].contains(type) else {
            throw .invalidField(file: r.file, field: r.prefix + "type", found: type, expected: "int or float")
        }
    }

    /// The JSON compressed-tensors writes for these arguments.
    public var json: JSONValue {
        .object([
            ("actorder", actorder.map(JSONValue.string) ?? .null),
            ("block_structure", .null),
            ("dynamic", .bool(false)),
            ("group_size", groupSize.map(JSONValue.int) ?? .null),
            ("num_bits", .int(numBits)),
            ("observer", .string("minmax")),
            ("observer_kwargs", .object([])),
            ("strategy", .string(strategy)),
            ("symmetric", .bool(symmetric)),
            ("type", .string(type)),
        ])
    }
}

/// A compressed-tensors config group: which modules, with which weight arguments.
public struct ConfigGroup: Sendable, Equatable {
    /// Group name ("group_0").
    public let name: String
    /// Module class names ("Linear"), exact module names, or `re:` patterns.
    public let targets: [String]
    /// Weight quantization; nil when the group quantizes only activations.
    public let weights: QuantizationArgs?
    /// True when input activations are quantized too (not W4A16).
    public let quantizesInputActivations: Bool

    /// Creates a group.
    public init(name: String, targets: [String], weights: QuantizationArgs?, quantizesInputActivations: Bool = false) {
        self.name = name
        self.targets = targets
        self.weights = weights
        self.quantizesInputActivations = quantizesInputActivations
    }
}

/// compressed-tensors `quantization_config` (K2-Thinking: pack-quantized, W4A16, group 32).
public struct CompressedTensorsConfig: Sendable, Equatable {
    /// "pack-quantized", "int-quantized", "naive-quantized", …
    public let format: String
    /// "compressed" or "frozen".
    public let quantizationStatus: String
    public let groups: [ConfigGroup]
    /// Module names or `re:` patterns kept unquantized.
    public let ignore: [String]

    /// Creates a config.
    public init(format: String, quantizationStatus: String = "compressed", groups: [ConfigGroup], ignore: [String]) {
        self.format = format
        self.quantizationStatus = quantizationStatus
        self.groups = groups
        self.ignore = ignore
    }

    init(reader r: ConfigReader) throws(CheckpointError) {
        format = try r.string("format", default: "dense")
        quantizationStatus = try r.string("quantization_status", default: "compressed")
        ignore = try r.strings("ignore")
        var groups: [ConfigGroup] = []
        if let g = try r.object("config_groups"), let members = g.json.members {
            for (name, _) in members {
                guard let group = try g.object(name) else { continue }
                groups.append(
                    ConfigGroup(
                        name: name,
                        targets: try group.strings("targets"),
                        weights: try group.object("weights").map { reader throws(CheckpointError) in try QuantizationArgs(reader: reader) },
                        quantizesInputActivations: group.present("input_activations")))
            }
        }
        self.groups = groups
        for pattern in ignore + groups.flatMap(\.targets) where pattern.hasPrefix("re:") {
            guard (try? NSRegularExpression(pattern: String(pattern.dropFirst(3)))) != nil else {
                throw .invalidPattern(file: r.file, pattern: pattern)
            }
        }
    }

    /// The weight arguments that apply to module `name` of class `className`, or nil when the module
    /// is ignored or targeted by no group.
    ///
    /// Matching follows compressed-tensors' `utils/match.py`: an entry starting with `re:` is a
    /// Python `re.match` (anchored at the start only) on the module name; any other entry must equal
    /// the module name or, for targets, the class name. Ignore wins over targets.
    public func weightArgs(module name: String, className: String = "Linear") -> QuantizationArgs? {
        if ignore.contains(where: { Self.matches($0, name: name, className: nil) }) { return nil }
        for group in groups where group.targets.contains(where: { Self.matches($0, name: name, className: className) }) {
            return group.weights
        }
        return nil
    }

    /// One target or ignore entry against a module name (and class name for targets).
    public static func matches(_ entry: String, name: String, className: String?) -> Bool {
        if entry.hasPrefix("re:") {
            guard let regex = PatternCache.shared.regex(String(entry.dropFirst(3))) else { return false }
            let range = NSRange(name.startIndex..., in: name)
            return regex.firstMatch(in: name, options: .anchored, range: range) != nil
        }
        return entry == name || entry == className
    }

    /// The JSON compressed-tensors writes into config.json for this config.
    public var json: JSONValue {
        .object([
            (
                "config_groups",
                .object(
                    groups.map { g in
                        (
                            g.name,
                            JSONValue.object([
                                ("input_activations", .null),
                                ("output_activations", .null),
                                ("targets", .array(g.targets.map(JSONValue.string))),
                                ("weights", g.weights?.json ?? .null),
                            ])
                        )
                    })
            ),
            ("format", .string(format)),
            ("ignore", .array(ignore.map(JSONValue.string))),
            ("kv_cache_scheme", .null),
            ("quant_method", .string("compressed-tensors")),
            ("quantization_status", .string(quantizationStatus)),
        ])
    }
}

/// `re:` patterns compiled once per process: the engine looks a checkpoint's routed experts up on every decoded
/// token (three projections of eight experts per MoE layer), and compiling the patterns for each lookup was about
/// 0.25 % of a decoded token's cycles on a K2-shaped checkpoint (0.1 % with this cache, in a profile of `ingot run`).
private final class PatternCache: @unchecked Sendable {
    // Sendable: `patterns` is read and written under `lock`; a built NSRegularExpression is immutable.
    static let shared = PatternCache()
    private let lock = NSLock()
    private var patterns: [String: NSRegularExpression?] = [:]

    /// The compiled pattern, or nil when it does not compile.
    func regex(_ pattern: String) -> NSRegularExpression? {
        lock.withLock {
            if let known = patterns[pattern] { return known }
            let regex = try? NSRegularExpression(pattern: pattern)
            patterns[pattern] = regex
            return regex
        }
    }
}
