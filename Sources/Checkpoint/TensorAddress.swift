/// A tensor's place in a DeepSeek-V3-family checkpoint: (layer, component, expert, part).
///
/// The only place that builds or parses tensor names; later stages never string-match names.
/// `TensorAddress(layer: 3, component: .expertGate, expert: 17, part: .weightPacked).name` is
/// `model.layers.3.mlp.experts.17.gate_proj.weight_packed`.
public struct TensorAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// A module of the architecture; the raw value is its path (`E` stands for the expert index).
    public enum Component: String, CaseIterable, Sendable {
        case embedTokens = "model.embed_tokens"
        case finalNorm = "model.norm"
        case lmHead = "lm_head"
        case inputNorm = "input_layernorm"
        case postAttentionNorm = "post_attention_layernorm"
        case qProj = "self_attn.q_proj"
        case qAProj = "self_attn.q_a_proj"
        case qANorm = "self_attn.q_a_layernorm"
        case qBProj = "self_attn.q_b_proj"
        case kvAProj = "self_attn.kv_a_proj_with_mqa"
        case kvANorm = "self_attn.kv_a_layernorm"
        case kvBProj = "self_attn.kv_b_proj"
        case oProj = "self_attn.o_proj"
        case denseGate = "mlp.gate_proj"
        case denseUp = "mlp.up_proj"
        case denseDown = "mlp.down_proj"
        case router = "mlp.gate"
        case sharedGate = "mlp.shared_experts.gate_proj"
        case sharedUp = "mlp.shared_experts.up_proj"
        case sharedDown = "mlp.shared_experts.down_proj"
        case expertGate = "mlp.experts.E.gate_proj"
        case expertUp = "mlp.experts.E.up_proj"
        case expertDown = "mlp.experts.E.down_proj"

        /// True for model-wide tensors (no layer index).
        public var isGlobal: Bool { self == .embedTokens || self == .finalNorm || self == .lmHead }
        /// True for routed-expert projections (they carry an expert index).
        public var isRoutedExpert: Bool { self == .expertGate || self == .expertUp || self == .expertDown }
        /// True for linear projections (weight matrices), false for norms and embeddings.
        public var isLinear: Bool {
            switch self {
            case .embedTokens, .finalNorm, .inputNorm, .postAttentionNorm, .qANorm, .kvANorm: false
            default: true
            }
        }
        /// The module's class in the reference model (compressed-tensors targets match it): the router is a
        /// `MoEGate`, not an `nn.Linear`, so a `Linear` target never quantizes it.
        public var className: String {
            switch self {
            case .embedTokens: "Embedding"
            case .finalNorm, .inputNorm, .postAttentionNorm, .qANorm, .kvANorm: "DeepseekV3RMSNorm"
            case .router: "MoEGate"
            default: "Linear"
            }
        }

        /// The coarse kind used in reports.
        public var kind: Kind {
            switch self {
            case .embedTokens: .embedding
            case .lmHead: .lmHead
            case .finalNorm, .inputNorm, .postAttentionNorm, .qANorm, .kvANorm: .norm
            case .qProj, .qAProj, .qBProj, .kvAProj, .kvBProj, .oProj: .attention
            case .denseGate, .denseUp, .denseDown: .denseMLP
            case .router: .router
            case .sharedGate, .sharedUp, .sharedDown: .sharedExpert
            case .expertGate, .expertUp, .expertDown: .routedExpert
            }
        }
    }

    /// What a tensor of a module holds; the raw value is the name suffix.
    public enum Part: String, CaseIterable, Sendable {
        case weight
        case bias
        case weightPacked = "weight_packed"
        case weightScale = "weight_scale"
        case weightShape = "weight_shape"
        case weightZeroPoint = "weight_zero_point"
        case weightGIdx = "weight_g_idx"
        case weightScaleInv = "weight_scale_inv"
        case correctionBias = "e_score_correction_bias"
    }

    /// Report grouping of components.
    public enum Kind: String, CaseIterable, Sendable {
        case embedding, attention, norm, denseMLP = "dense-mlp", router, sharedExpert = "shared-expert"
        case routedExpert = "routed-expert", lmHead = "lm-head"
    }

    /// Decoder layer, nil for global tensors.
    public let layer: Int?
    public let component: Component
    /// Routed expert index, nil otherwise.
    public let expert: Int?
    public let part: Part

    /// Creates an address.
    ///
    /// - Precondition: `layer` is nil exactly for global components, `expert` exactly for routed experts.
    public init(layer: Int? = nil, component: Component, expert: Int? = nil, part: Part = .weight) {
        precondition((layer == nil) == component.isGlobal, "layer index does not fit \(component)")
        precondition((expert == nil) == !component.isRoutedExpert, "expert index does not fit \(component)")
        self.layer = layer
        self.component = component
        self.expert = expert
        self.part = part
    }

    /// The module path without the part (`model.layers.1.mlp.experts.0.up_proj`).
    public var moduleName: String {
        if component.isGlobal { return component.rawValue }
        var path = component.rawValue
        if let expert { path = "mlp.experts.\(expert)." + path.dropFirst("mlp.experts.E.".count) }
        return "\(Self.layerPrefix)\(layer ?? 0).\(path)"
    }

    /// The tensor name in the checkpoint.
    public var name: String { moduleName + "." + part.rawValue }

    /// The address of a routed-expert projection's tensor.
    public init(_ expert: ExpertID, component: Component, part: Part = .weight) {
        self.init(layer: expert.layer, component: component, expert: expert.expert, part: part)
    }

    /// The routed expert this address belongs to; nil for every other tensor.
    public var expertID: ExpertID? {
        guard let layer, let expert else { return nil }
        return ExpertID(layer: layer, expert: expert)
    }

    /// The same module with another part (`weight_packed` → `weight_scale`).
    public func with(part: Part) -> TensorAddress {
        TensorAddress(layer: layer, component: component, expert: expert, part: part)
    }

    /// The path of a whole routed expert, all three projections (`model.layers.1.mlp.experts.6`).
    public static func moduleName(of expert: ExpertID) -> String {
        "\(layerPrefix)\(expert.layer).mlp.experts.\(expert.expert)"
    }

    /// Parses a module path (`model.layers.3.self_attn.q_a_proj`) as that module's `part` tensor.
    public init?(module: String, part: Part = .weight) {
        self.init(name: module + "." + part.rawValue)
    }

    /// The layer number of any `model.layers.N.…` name, parsed loosely: MTP layers and other tensors this type does
    /// not know still belong to a layer. Nil for names outside the decoder layers.
    public static func layer(ofName name: String) -> Int? {
        guard name.hasPrefix(layerPrefix) else { return nil }
        return Int(name.dropFirst(layerPrefix.count).prefix { $0 != "." })
    }

    /// The prefix of every per-layer tensor name.
    private static let layerPrefix = "model.layers."

    public var description: String { name }

    private static let partsBySuffixLength = Part.allCases.sorted { $0.rawValue.count > $1.rawValue.count }
    private static let layerComponents: [String: Component] = Dictionary(
        uniqueKeysWithValues: Component.allCases.filter { !$0.isGlobal && !$0.isRoutedExpert }.map { ($0.rawValue, $0) })

    /// Parses a checkpoint tensor name; nil when the name is not part of the architecture.
    public init?(name: String) {
        guard let part = Self.partsBySuffixLength.first(where: { name.hasSuffix("." + $0.rawValue) }) else { return nil }
        let module = String(name.dropLast(part.rawValue.count + 1))
        if let global = Component.allCases.first(where: { $0.isGlobal && $0.rawValue == module }) {
            self.init(layer: nil, component: global, expert: nil, part: part)
            return
        }
        let prefix = Self.layerPrefix
        guard module.hasPrefix(prefix) else { return nil }
        let rest = module.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Self.index(rest[..<dot]) else { return nil }
        let path = String(rest[rest.index(after: dot)...])
        if let component = Self.layerComponents[path] {
            self.init(layer: layer, component: component, expert: nil, part: part)
            return
        }
        let expertPrefix = "mlp.experts."
        guard path.hasPrefix(expertPrefix) else { return nil }
        let tail = path.dropFirst(expertPrefix.count)
        guard let dot2 = tail.firstIndex(of: "."), let expert = Self.index(tail[..<dot2]) else { return nil }
        let projection = "mlp.experts.E." + tail[tail.index(after: dot2)...]
        guard let component = Component(rawValue: projection) else { return nil }
        self.init(layer: layer, component: component, expert: expert, part: part)
    }

    /// A decimal index without sign or leading zeros.
    private static func index(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.allSatisfy(\.isASCII), s.allSatisfy(\.isNumber), s == "0" || s.first != "0" else { return nil }
        return Int(s)
    }

    public static func < (a: TensorAddress, b: TensorAddress) -> Bool {
        let ka = (a.layer ?? (a.component == .embedTokens ? -1 : Int.max), a.expert ?? -1)
        let kb = (b.layer ?? (b.component == .embedTokens ? -1 : Int.max), b.expert ?? -1)
        if ka != kb { return ka < kb }
        return a.name < b.name
    }
}
