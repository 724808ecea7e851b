public import Foundation
internal import Yams

/// A model family's recipe: expected source format, quantization scheme (llm-compressor's shape),
/// bundle options and the parity thresholds evaluation enforces. See recipes/README.md.
public struct Recipe: Sendable, Equatable {
    /// Rounding grid used when quantizing.
    public enum Grid: String, Sendable {
        /// compressed-tensors' round-to-nearest: absmax/7.5, levels −8..7.
        case rtn
        /// K2's observed QAT grid: absmax/7, levels −7..7.
        case qat
    }

    /// Bundle compression.
    public enum Compression: Sendable, Equatable {
        case none
        case zstd(level: Int)
    }

    public let name: String
    public let description: String
    public let modelTypes: [String]
    /// `compressed-tensors`, `fp8` or `none`.
    public let quantMethods: [String]
    /// `int4-pack-quantized`, `fp8-block` or `bf16`.
    public let sourceFormat: String
    /// The scheme as a compressed-tensors config (targets, ignore, weight arguments).
    public let scheme: CompressedTensorsConfig
    public let grid: Grid
    public let bundleLayout: String
    public let bundleRows: Int
    public let compression: Compression
    public let maxMeanKLD: Double
    public let minSameTop1: Double
    public let minToolCallF1: Double
    public let minSchemaAccuracy: Double
    /// Smallest fraction of tokens whose routed-expert set is identical in REF and CAND, in every MoE layer.
    public let minRoutingAgreement: Double
    /// GGUF export: type of the dense (non-expert) weight matrices, `bf16` (default), `f32` or `q8_0`.
    public let ggufDenseType: String

    /// Dense types `gguf.dense_type` may name.
    public static let ggufDenseTypes = ["bf16", "f32", "q8_0"]

    /// Source formats a recipe may name.
    public static let sourceFormats = ["int4-pack-quantized", "fp8-block", "bf16"]

    /// Loads a recipe file.
    ///
    /// - Throws: ``CheckpointError`` (unknown key, missing key, bad value) or ``FileError``.
    public init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CheckpointError.missingFile(path: path)
        }
        try self.init(yaml: text, file: path)
    }

    /// Parses recipe YAML; `file` names it in errors.
    ///
    /// - Throws: ``CheckpointError``.
    public init(yaml: String, file: String) throws(CheckpointError) {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw .invalidRecipe(file: file, reason: "not valid YAML: \(error)")
        }
        guard let node else { throw .invalidRecipe(file: file, reason: "empty file") }
        let root = try Mapping(
            node, path: "", file: file,
            allowed: ["recipe", "description", "applies_to", "source", "quant_stage", "bundle", "parity", "gguf"])
        name = try root.string("recipe")
        description = try root.optionalString("description") ?? ""
        let applies = try root.mapping("applies_to", allowed: ["model_type", "quant_method"])
        modelTypes = try applies.strings("model_type")
        quantMethods = try applies.strings("quant_method")
        let source = try root.mapping("source", allowed: ["format"])
        sourceFormat = try source.string("format")
        guard Self.sourceFormats.contains(sourceFormat) else {
            throw .invalidRecipe(file: file, reason: "source.format '\(sourceFormat)' is not one of \(Self.sourceFormats)")
        }
        let modifier = try root.mapping("quant_stage", allowed: ["quant_modifiers"])
            .mapping("quant_modifiers", allowed: ["QuantizationModifier"])
            .mapping("QuantizationModifier", allowed: ["ignore", "config_groups", "grid", "targets"])
        let groupsNode = try modifier.mapping("config_groups", allowed: nil)
        var groups: [ConfigGroup] = []
        for key in groupsNode.keys {
            let g = try groupsNode.mapping(key, allowed: ["targets", "weights"])
            let w = try g.mapping("weights", allowed: ["num_bits", "type", "symmetric", "strategy", "group_size", "actorder"])
            let args = QuantizationArgs(
                numBits: try w.int("num_bits"), type: try w.optionalString("type") ?? "int",
                symmetric: try w.optionalBool("symmetric") ?? true,
                strategy: try w.optionalString("strategy") ?? "group",
                groupSize: try w.optionalInt("group_size"), actorder: try w.optionalString("actorder"))
            guard [4, 8].contains(args.numBits), args.type == "int" else {
                throw .invalidRecipe(file: file, reason: "\(w.path)num_bits/type: ingot quantizes to int4 or int8 only")
            }
            if args.strategy == "group" {
                guard let gs = args.groupSize, gs > 0 else { throw .invalidRecipe(file: file, reason: "\(w.path)group_size is required") }
            }
            groups.append(ConfigGroup(name: key, targets: try g.strings("targets"), weights: args))
        }
        guard !groups.isEmpty else { throw .invalidRecipe(file: file, reason: "config_groups is empty") }
        let ignore = try modifier.optionalStrings("ignore") ?? []
        for pattern in ignore + groups.flatMap(\.targets) where pattern.hasPrefix("re:") {
            guard (try? NSRegularExpression(pattern: String(pattern.dropFirst(3)))) != nil else {
                throw .invalidPattern(file: file, pattern: pattern)
            }
        }
        scheme = CompressedTensorsConfig(format: "pack-quantized", groups: groups, ignore: ignore)
        let gridName = try modifier.optionalString("grid") ?? "rtn"
        guard let grid = Grid(rawValue: gridName) else {
            throw .invalidRecipe(file: file, reason: "QuantizationModifier.grid '\(gridName)' is not rtn or qat")
        }
        self.grid = grid
        let bundle = try root.mapping("bundle", allowed: ["layout", "rows", "compression"])
        bundleLayout = try bundle.string("layout")
        bundleRows = try bundle.int("rows")
        let compressionText = try bundle.string("compression")
        if compressionText == "none" {
            compression = .none
        } else if compressionText.hasPrefix("zstd"),
            let level = Int(compressionText.dropFirst(5).isEmpty ? "3" : String(compressionText.dropFirst(5))),
            (1...22).contains(level), compressionText == "zstd" || compressionText.hasPrefix("zstd:")
        {
            compression = .zstd(level: level)
        } else {
            throw .invalidRecipe(file: file, reason: "bundle.compression '\(compressionText)' is not none or zstd:LEVEL (1..22)")
        }
        let parity = try root.mapping(
            "parity", allowed: ["max_mean_kld", "min_same_top1", "min_tool_call_f1", "min_schema_accuracy", "min_routing_agreement"])
        maxMeanKLD = try parity.double("max_mean_kld")
        minSameTop1 = try parity.fraction("min_same_top1")
        minToolCallF1 = try parity.fraction("min_tool_call_f1")
        minSchemaAccuracy = try parity.fraction("min_schema_accuracy")
        minRoutingAgreement = parity.node("min_routing_agreement") == nil ? 0 : try parity.fraction("min_routing_agreement")
        if root.node("gguf") != nil {
            let gguf = try root.mapping("gguf", allowed: ["dense_type"])
            ggufDenseType = try gguf.optionalString("dense_type") ?? "bf16"
            guard Self.ggufDenseTypes.contains(ggufDenseType) else {
                throw .invalidRecipe(file: file, reason: "gguf.dense_type '\(ggufDenseType)' is not one of \(Self.ggufDenseTypes)")
            }
        } else {
            ggufDenseType = "bf16"
        }
    }

    /// The built-in recipes (recipes/*.yaml compiled in).
    public static func builtin() -> [Recipe] {
        BuiltinRecipes.files.compactMap { try? Recipe(yaml: $0.text, file: "recipes/" + $0.name) }
    }

    /// The built-in recipe called `name` (one of recipes/*.yaml, compiled in; a missing one is a build error caught by
    /// the tests, not a user's input).
    public static func builtin(named name: String) -> Recipe {
        guard let r = builtin().first(where: { $0.name == name }) else { preconditionFailure("no built-in recipe \(name)") }
        return r
    }

    /// The built-in recipe whose `applies_to` matches the config.
    ///
    /// - Throws: ``CheckpointError/noMatchingRecipe(modelType:quantMethod:)``.
    public static func matching(_ config: ModelConfig) throws(CheckpointError) -> Recipe {
        let method = config.quantization?.method ?? "none"
        guard let r = builtin().first(where: { $0.modelTypes.contains(config.modelType) && $0.quantMethods.contains(method) })
        else { throw .noMatchingRecipe(modelType: config.modelType, quantMethod: method) }
        return r
    }

    /// `--recipe FILE` when given, else the built-in match for the config.
    public static func resolve(path: String?, config: ModelConfig) throws -> Recipe {
        if let path { return try Recipe(path: path) }
        return try matching(config)
    }
}

/// A YAML mapping whose keys are checked against an allowed list.
private struct Mapping {
    let pairs: [(key: String, value: Node)]
    let path: String
    let file: String

    init(_ node: Node, path: String, file: String, allowed: [String]?) throws(CheckpointError) {
        guard let mapping = node.mapping else {
            throw .invalidRecipe(file: file, reason: "\(path.isEmpty ? "top level" : String(path.dropLast())) must be a mapping")
        }
        var pairs: [(String, Node)] = []
        for (k, v) in mapping {
            guard let key = k.string else { throw .invalidRecipe(file: file, reason: "\(path): keys must be strings") }
            if let allowed, !allowed.contains(key) { throw .unknownRecipeKey(file: file, key: path + key) }
            pairs.append((key, v))
        }
        self.pairs = pairs
        self.path = path
        self.file = file
    }

    var keys: [String] { pairs.map(\.key) }

    func node(_ key: String) -> Node? { pairs.first { $0.key == key }?.value }

    func required(_ key: String) throws(CheckpointError) -> Node {
        guard let n = node(key) else { throw .missingField(file: file, field: path + key) }
        return n
    }

    func mapping(_ key: String, allowed: [String]?) throws(CheckpointError) -> Mapping {
        try Mapping(try required(key), path: path + key + ".", file: file, allowed: allowed)
    }

    func bad(_ key: String, _ node: Node, _ expected: String) -> CheckpointError {
        .invalidField(file: file, field: path + key, found: "\(node.any)", expected: expected)
    }

    func string(_ key: String) throws(CheckpointError) -> String {
        let n = try required(key)
        guard let s = n.scalar?.string else { throw bad(key, n, "a string") }
        return s
    }

    func optionalString(_ key: String) throws(CheckpointError) -> String? {
        node(key) == nil ? nil : try string(key)
    }

    func int(_ key: String) throws(CheckpointError) -> Int {
        let n = try required(key)
        guard let i = n.int else { throw bad(key, n, "an integer") }
        return i
    }

    func optionalInt(_ key: String) throws(CheckpointError) -> Int? {
        node(key) == nil || node(key)?.null != nil ? nil : try int(key)
    }

    func optionalBool(_ key: String) throws(CheckpointError) -> Bool? {
        guard let n = node(key) else { return nil }
        guard let b = n.bool else { throw bad(key, n, "true or false") }
        return b
    }

    func double(_ key: String) throws(CheckpointError) -> Double {
        let n = try required(key)
        guard let d = n.float ?? n.int.map(Double.init), d.isFinite, d >= 0 else { throw bad(key, n, "a non-negative number") }
        return d
    }

    func fraction(_ key: String) throws(CheckpointError) -> Double {
        let d = try double(key)
        guard d <= 1 else { throw .invalidField(file: file, field: path + key, found: "\(d)", expected: "a fraction in [0, 1]") }
        return d
    }

    func strings(_ key: String) throws(CheckpointError) -> [String] {
        let n = try required(key)
        if let s = n.scalar?.string { return [s] }
        guard let seq = n.sequence else { throw bad(key, n, "a list of strings") }
        var out: [String] = []
        for e in seq {
            guard let s = e.scalar?.string else { throw bad(key, e, "a string") }
            out.append(s)
        }
        return out
    }

    func optionalStrings(_ key: String) throws(CheckpointError) -> [String]? {
        node(key) == nil ? nil : try strings(key)
    }
}
