public import TensorIO

/// A tensor the configuration says must exist, with its dtype and shape.
public struct ExpectedTensor: Sendable, Equatable {
    public let address: TensorAddress
    public let dtype: DType
    public let shape: [Int]
    /// Other dtypes accepted without a warning (K2's weight_shape may be I32 or I64, the router
    /// correction bias F32 or BF16: both UNCONFIRMED for the real files).
    public let alsoAccepted: [DType]

    /// Creates an expectation.
    public init(address: TensorAddress, dtype: DType, shape: [Int], alsoAccepted: [DType] = []) {
        self.address = address
        self.dtype = dtype
        self.shape = shape
        self.alsoAccepted = alsoAccepted
    }

    /// The tensor spec for writing it (synth uses the primary dtype).
    public var spec: TensorSpec { TensorSpec(name: address.name, dtype: dtype, shape: shape) }
}

/// The complete list of tensors a DeepSeek-V3-family config implies, in the storage its
/// `quantization_config` implies (docs/checkpoint-format.md, "Tensor inventory").
public enum TensorInventory {
    /// Options for forms the config leaves open.
    public struct Options: Sendable {
        /// dtype of compressed-tensors `weight_shape` (the library writes I64).
        public var weightShapeDType: DType = .i64
        /// Creates defaults.
        public init(weightShapeDType: DType = .i64) { self.weightShapeDType = weightShapeDType }
    }

    /// The logical matrices of one layer (or the globals for `layer == nil`) with [out, in] shapes.
    public static func modules(_ c: ModelConfig, layer: Int?) -> [(address: TensorAddress, shape: [Int])] {
        func at(_ component: TensorAddress.Component, _ shape: [Int], expert: Int? = nil) -> (TensorAddress, [Int]) {
            (TensorAddress(layer: layer, component: component, expert: expert, part: .weight), shape)
        }
        guard let layer else {
            var globals = [at(.embedTokens, [c.vocabSize, c.hiddenSize]), at(.finalNorm, [c.hiddenSize])]
            if !c.tieWordEmbeddings { globals.append(at(.lmHead, [c.vocabSize, c.hiddenSize])) }
            return globals
        }
        let h = c.hiddenSize, heads = c.numAttentionHeads
        var m = [at(.inputNorm, [h]), at(.postAttentionNorm, [h])]
        if let q = c.qLoraRank {
            m += [at(.qAProj, [q, h]), at(.qANorm, [q]), at(.qBProj, [heads * c.qkHeadDim, q])]
        } else {
            m.append(at(.qProj, [heads * c.qkHeadDim, h]))
        }
        m += [
            at(.kvAProj, [c.kvLoraRank + c.qkRopeHeadDim, h]), at(.kvANorm, [c.kvLoraRank]),
            at(.kvBProj, [heads * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank]), at(.oProj, [h, heads * c.vHeadDim]),
        ]
        if c.isMoELayer(layer) {
            let e = c.moeIntermediateSize
            m.append(at(.router, [c.nRoutedExperts, h]))
            if c.nSharedExperts > 0 {
                let s = e * c.nSharedExperts
                m += [at(.sharedGate, [s, h]), at(.sharedUp, [s, h]), at(.sharedDown, [h, s])]
            }
            for expert in 0..<c.nRoutedExperts {
                m += [
                    at(.expertGate, [e, h], expert: expert), at(.expertUp, [e, h], expert: expert),
                    at(.expertDown, [h, e], expert: expert),
                ]
            }
        } else {
            let i = c.intermediateSize
            m += [at(.denseGate, [i, h]), at(.denseUp, [i, h]), at(.denseDown, [h, i])]
        }
        return m
    }

    /// Every expected tensor of the layer (`nil`: the globals), stored as the config's quantization says.
    public static func expected(_ c: ModelConfig, layer: Int?, options: Options = Options()) -> [ExpectedTensor] {
        var out: [ExpectedTensor] = []
        let dense = denseDType(c)
        for (address, shape) in modules(c, layer: layer) {
            let (layerIndex, component, expert) = (address.layer, address.component, address.expert)
            func t(_ part: TensorAddress.Part, _ dtype: DType, _ shape: [Int], _ also: [DType] = []) {
                out.append(
                    ExpectedTensor(
                        address: TensorAddress(layer: layerIndex, component: component, expert: expert, part: part),
                        dtype: dtype, shape: shape, alsoAccepted: also))
            }
            if component == .router {
                t(.weight, dense, shape)
                if c.topkMethod == "noaux_tc" { t(.correctionBias, .f32, [c.nRoutedExperts], [.bf16]) }
                continue
            }
            guard component.isLinear, shape.count == 2 else {
                t(.weight, dense, shape)
                continue
            }
            switch c.quantization {
            case .compressedTensors(let ct):
                if let args = ct.weightArgs(module: address.moduleName, className: component.className), args.type == "int" {
                    let (rows, cols) = (shape[0], shape[1])
                    let perWord = 32 / args.numBits
                    t(.weightPacked, .i32, [rows, (cols + perWord - 1) / perWord])
                    let groups = args.strategy == "group" ? (cols + (args.groupSize ?? cols) - 1) / (args.groupSize ?? cols) : 1
                    t(.weightScale, dense, [rows, groups])
                    t(.weightShape, options.weightShapeDType, [2], [options.weightShapeDType == .i64 ? .i32 : .i64])
                    if !args.symmetric { t(.weightZeroPoint, .i32, [(rows + perWord - 1) / perWord, groups]) }
                    if args.actorder == "group" { t(.weightGIdx, .i32, [cols]) }
                } else {
                    t(.weight, dense, shape)
                }
            case .fp8Block where component == .lmHead:
                t(.weight, dense, shape)  // DeepSeek-V3's convention: lm_head stays unquantized
            case .fp8Block(let fp8):
                let (rows, cols) = (shape[0], shape[1])
                t(.weight, .f8E4M3, shape)
                t(
                    .weightScaleInv, .f32,
                    [
                        (rows + fp8.blockSize[0] - 1) / fp8.blockSize[0],
                        (cols + fp8.blockSize[1] - 1) / fp8.blockSize[1],
                    ])
            case .other, .none:
                t(.weight, dense, shape)
            }
        }
        return out
    }

    /// Expected tensors of the whole model: globals, then layers in order.
    public static func expected(_ c: ModelConfig, options: Options = Options()) -> [ExpectedTensor] {
        expected(c, layer: nil, options: options) + (0..<c.numHiddenLayers).flatMap { expected(c, layer: $0, options: options) }
    }

    /// The dtype of unquantized weights (`torch_dtype`).
    public static func denseDType(_ c: ModelConfig) -> DType {
        switch c.torchDtype {
        case "float32": .f32
        case "float16": .f16
        default: .bf16
        }
    }
}
