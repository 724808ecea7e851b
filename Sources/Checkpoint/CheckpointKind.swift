/// What a checkpoint is, decided from config.json and confirmed by the tensors present.
public enum CheckpointKind: Sendable, Equatable, CustomStringConvertible {
    /// K2-Thinking form: compressed-tensors pack-quantized INT4 routed experts, BF16 elsewhere.
    case int4PackQuantized(groupSize: Int)
    /// K2-Instruct / DeepSeek-V3 form: FP8 E4M3 blocks with F32 `weight_scale_inv`.
    case fp8Block(rows: Int, columns: Int)
    /// No quantization: BF16 (or the torch_dtype) throughout.
    case dense(dtype: String)
    /// Declared and stored forms disagree, or the form is one ingot does not read.
    case unknown(reason: String)

    public var description: String {
        switch self {
        case .int4PackQuantized(let g): "INT4 pack-quantized (compressed-tensors, group \(g)), K2-Thinking form"
        case .fp8Block(let r, let c): "FP8 E4M3 blocks \(r)×\(c), K2-Instruct / DeepSeek-V3 form"
        case .dense(let d): "unquantized (\(d))"
        case .unknown(let r): "unknown (\(r))"
        }
    }

    /// A short machine name for JSON.
    public var id: String {
        switch self {
        case .int4PackQuantized: "int4-pack-quantized"
        case .fp8Block: "fp8-block"
        case .dense: "dense"
        case .unknown: "unknown"
        }
    }

    /// Classifies by `quant_method`, then checks that the tensor suffixes exist (docs/checkpoint-format.md, "Which checkpoint is it").
    ///
    /// - Parameter hasPart: whether any tensor of the checkpoint has the given part.
    public static func classify(_ config: ModelConfig, hasPart: (TensorAddress.Part) -> Bool) -> CheckpointKind {
        switch config.quantization {
        case .compressedTensors(let ct):
            guard ct.format == "pack-quantized" else { return .unknown(reason: "compressed-tensors format '\(ct.format)'") }
            let args = ct.groups.compactMap(\.weights)
            guard let first = args.first, args.allSatisfy({ $0 == first }), first.numBits == 4, first.type == "int",
                first.strategy == "group", let g = first.groupSize
            else { return .unknown(reason: "compressed-tensors scheme other than one INT4 group scheme") }
            guard hasPart(.weightPacked), hasPart(.weightScale) else {
                return .unknown(reason: "config says pack-quantized but no weight_packed/weight_scale tensors exist")
            }
            return .int4PackQuantized(groupSize: g)
        case .fp8Block(let f):
            guard hasPart(.weightScaleInv) else {
                return .unknown(reason: "config says fp8 but no weight_scale_inv tensors exist")
            }
            return .fp8Block(rows: f.blockSize[0], columns: f.blockSize[1])
        case .other(let m):
            return .unknown(reason: "quant_method '\(m)'")
        case .none:
            if hasPart(.weightPacked) || hasPart(.weightScaleInv) {
                return .unknown(reason: "quantized tensors present but config.json has no quantization_config")
            }
            return .dense(dtype: config.torchDtype)
        }
    }
}
