public import BundleFormat
public import Checkpoint
public import Foundation
public import TensorIO

/// Errors of the engine: a weight it cannot use, named with the tensor and the value.
public enum InferenceError: Error, LocalizedError, Equatable {
    case missingTensor(source: String, tensor: String)
    case badShape(tensor: String, shape: [Int], expected: String)
    case unsupportedDType(tensor: String, dtype: String)
    case unsupportedQuantization(tensor: String, detail: String)
    case tokenOutOfRange(token: Int, vocab: Int)
    /// Generation was asked to continue an empty prompt.
    case emptyPrompt
    /// The kernel benchmark needs a raw bundle with routed experts (`reason` says what this one is).
    case unusableBenchmarkBundle(bundle: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .missingTensor(let source, let tensor): "\(source): the model needs tensor \(tensor), which is not there"
        case .badShape(let tensor, let shape, let expected): "tensor \(tensor) has shape \(shape), expected \(expected)"
        case .unsupportedDType(let tensor, let dtype): "tensor \(tensor): the engine cannot compute with dtype \(dtype)"
        case .unsupportedQuantization(let tensor, let detail): "tensor \(tensor): unsupported quantization (\(detail))"
        case .tokenOutOfRange(let token, let vocab): "token id \(token) is outside the vocabulary (0..<\(vocab))"
        case .emptyPrompt: "the prompt has no tokens"
        case .unusableBenchmarkBundle(let bundle, let reason): "\(bundle): \(reason)"
        }
    }
}

/// Where the engine's weights come from: tensors by ``TensorAddress``, in whatever storage the model has.
public protocol WeightSource: AnyObject, Sendable {
    /// The model's config.json.
    var config: ModelConfig { get }
    /// A description for messages (the folder).
    var origin: String { get }
    /// The linear weight of a module (the address's part is ignored), in whatever storage the source has.
    func linear(_ module: TensorAddress, rows: Int, cols: Int) throws -> LinearWeight
    /// A small f32 vector (norm weights, router bias), converted.
    func vector(_ tensor: TensorAddress, count: Int) throws -> [Float]
    /// Drops the resident pages of one layer's weights (layer-streamed evaluation); `nil` = the global tensors.
    func release(layer: Int?)
    /// Reads one layer's weights into the page cache without mapping them (blocking; a background thread's job),
    /// evicting as many bytes of `room` as it reads (``RetiredPages``).
    func prefetch(layer: Int?, room: RetiredPages?)
    /// Reads one layer's weights now (they are resident when this returns).
    func load(layer: Int?)
    /// Drops one layer's pages from memory and hands them to `retired`, to leave the page cache when new data needs
    /// the room (layer streaming of a model larger than memory).
    func retire(layer: Int?, to retired: RetiredPages)
    /// Hands one tensor's pages to `retired` (as ``retire(layer:to:)``).
    func retire(_ tensor: TensorAddress, to retired: RetiredPages)
    /// Hands one routed expert's pages to `retired` as a part of its layer, which ``retire(layer:to:)`` completes.
    func retire(layer: Int, expert: Int, to retired: RetiredPages)
    /// The bytes of one layer's weights (`nil` = the global tensors).
    func layerBytes(_ layer: Int?) -> Int
    /// Reads one tensor into the page cache without mapping it (blocking; a background thread's job), evicting as
    /// many bytes of `room` as it reads.
    func prefetch(_ tensor: TensorAddress, room: RetiredPages?)
    /// Reads one tensor now (it is resident when this returns).
    func load(_ tensor: TensorAddress)
}

/// Opens a checkpoint folder or a bundle (``openModelStore(_:)``).
public func openWeights(_ path: String) throws -> any WeightSource {
    weights(try openModelStore(path))
}

/// The engine's view of a store (opens the existential, so a bundle's weights are a ``BundleWeights``).
private func weights<Store: ModelStore>(_ store: Store) -> any WeightSource { StoreWeights(store: store) }

/// Converts a small tensor to f32 values (FloatConversion's exact widening).
func floats(_ bytes: UnsafeRawBufferPointer, dtype: DType, name: String) throws -> [Float] {
    guard dtype.isConvertibleToFloat, let base = bytes.baseAddress else {
        throw InferenceError.unsupportedDType(tensor: name, dtype: dtype.rawValue)
    }
    let count = bytes.count * 8 / dtype.bits
    return [Float](unsafeUninitializedCapacity: count) { out, n in
        FloatConversion.convert(base, dtype: dtype, count: count, into: out.baseAddress!)
        n = count
    }
}

/// Weights of a Hugging Face checkpoint: BF16/F16/F32 dense, F8_E4M3 block (`weight_scale_inv`), and
/// compressed-tensors pack-quantized INT4 group-32 symmetric.
public typealias CheckpointWeights = StoreWeights<CheckpointStore>

/// Weights of an ingot bundle: dense tensors and raw expert tiles are views of the mapping; compressed experts are
/// decompressed one at a time and kept until their layer is released.
public typealias BundleWeights = StoreWeights<BundleStore>

/// The engine's weights read from a ``ModelStore``: each tensor the store holds becomes a ``LinearWeight`` over the
/// store's bytes, checked against the shape the engine needs.
public final class StoreWeights<Store: ModelStore>: WeightSource, Sendable {
    /// Where the tensors live.
    public let store: Store
    public var config: ModelConfig { store.config }
    public var origin: String { store.origin }

    /// Reads the engine's weights from `store`.
    public init(store: Store) { self.store = store }

    public func linear(_ address: TensorAddress, rows: Int, cols: Int) throws -> LinearWeight {
        let module = address.moduleName
        if address.component.isRoutedExpert, let stored = try store.expert(address, keep: true) {
            switch stored {
            case .packed(let words, let scales):
                return try packed(address, words: words, scales: scales, rows: rows, cols: cols)
            case .tiles(let t):
                guard t.rows == rows, t.columns == cols else {
                    throw InferenceError.badShape(tensor: module, shape: [t.rows, t.columns], expected: "[\(rows), \(cols)]")
                }
                return LinearWeight(
                    name: module, rows: rows, cols: cols, storage: .int4Tiles(tileRows: t.tileRows), bytes: t.bytes, owner: t.owner)
            }
        }
        if let w = store.tensor(address.with(part: .weight)) {
            let info = w.info
            guard info.shape == [rows, cols] else {
                throw InferenceError.badShape(tensor: info.name, shape: info.shape, expected: "[\(rows), \(cols)]")
            }
            switch info.dtype {
            case .bf16, .f16, .f32:
                return LinearWeight(name: module, rows: rows, cols: cols, storage: .dense(info.dtype), bytes: w.bytes)
            case .f8E4M3:
                let scaleName = address.with(part: .weightScaleInv).name
                guard let s = store.tensor(address.with(part: .weightScaleInv)) else {
                    throw InferenceError.missingTensor(source: origin, tensor: scaleName)
                }
                let block =
                    config.quantization.flatMap { q -> [Int]? in
                        if case .fp8Block(let b) = q { return b.blockSize }
                        return nil
                    } ?? [128, 128]
                let expected = [(rows + block[0] - 1) / block[0], (cols + block[1] - 1) / block[1]]
                guard s.info.dtype == .f32, s.info.shape == expected else {
                    throw InferenceError.badShape(tensor: s.info.name, shape: s.info.shape, expected: "F32 \(expected)")
                }
                return LinearWeight(
                    name: module, rows: rows, cols: cols, storage: .fp8Block(scaleInv: s.bytes, block: (block[0], block[1])),
                    bytes: w.bytes)
            default:
                throw InferenceError.unsupportedDType(tensor: info.name, dtype: info.dtype.rawValue)
            }
        }
        guard let words = store.tensor(address.with(part: .weightPacked)) else {
            throw InferenceError.missingTensor(source: origin, tensor: address.with(part: .weight).name)
        }
        guard let scales = store.tensor(address.with(part: .weightScale)) else {
            throw InferenceError.missingTensor(source: origin, tensor: address.with(part: .weightScale).name)
        }
        return try packed(address, words: words, scales: scales, rows: rows, cols: cols)
    }

    /// compressed-tensors pack-quantized INT4: the config's scheme must be 4-bit symmetric with the group size the
    /// engine's kernels and the bundle format share (``TileLayout/groupSize``), the words I32 [rows, cols/8] and the
    /// scales BF16 [rows, cols/group].
    private func packed(_ address: TensorAddress, words: TensorView, scales: TensorView, rows: Int, cols: Int) throws -> LinearWeight {
        let module = address.moduleName
        let group = TileLayout.groupSize
        if case .compressedTensors(let ct) = config.quantization {
            if let args = ct.weightArgs(module: module, className: address.component.className) {
                guard args.numBits == 4, args.symmetric, args.groupSize == group, args.type == "int" else {
                    throw InferenceError.unsupportedQuantization(
                        tensor: words.info.name,
                        detail: "\(args.numBits)-bit \(args.type) group \(args.groupSize.map(String.init) ?? "none") "
                            + (args.symmetric ? "symmetric" : "asymmetric") + "; the engine reads 4-bit symmetric group \(group)")
                }
            }
        }
        let (pInfo, sInfo) = (words.info, scales.info)
        guard cols % group == 0, pInfo.dtype == .i32, pInfo.shape == [rows, cols / 8] else {
            throw InferenceError.badShape(tensor: pInfo.name, shape: pInfo.shape, expected: "I32 [\(rows), \(cols / 8)]")
        }
        guard sInfo.dtype == .bf16, sInfo.shape == [rows, cols / group] else {
            throw InferenceError.badShape(tensor: sInfo.name, shape: sInfo.shape, expected: "BF16 [\(rows), \(cols / group)]")
        }
        return LinearWeight(name: module, rows: rows, cols: cols, storage: .int4Packed(scales: scales.bytes), bytes: words.bytes)
    }

    public func vector(_ tensor: TensorAddress, count: Int) throws -> [Float] {
        guard let t = store.tensor(tensor) else { throw InferenceError.missingTensor(source: origin, tensor: tensor.name) }
        guard t.info.shape == [count] else {
            throw InferenceError.badShape(tensor: tensor.name, shape: t.info.shape, expected: "[\(count)]")
        }
        return try floats(t.bytes, dtype: t.info.dtype, name: tensor.name)
    }

    public func release(layer: Int?) { store.release(layer: layer) }
    public func prefetch(layer: Int?, room: RetiredPages?) { store.prefetch(layer: layer, room: room) }
    public func load(layer: Int?) { store.load(layer: layer) }
    public func retire(layer: Int?, to retired: RetiredPages) { store.retire(layer: layer, to: retired) }
    public func retire(_ tensor: TensorAddress, to retired: RetiredPages) {
        guard let pages = store.tensor(tensor)?.pages else { return }
        pages.release()
        pages.retire(to: retired)
    }
    public func retire(layer: Int, expert: Int, to retired: RetiredPages) { store.retire(layer: layer, expert: expert, to: retired) }
    public func layerBytes(_ layer: Int?) -> Int { store.layerBytes(layer) }
    public func prefetch(_ tensor: TensorAddress, room: RetiredPages?) { store.tensor(tensor)?.pages?.prefetch(room: room) }
    public func load(_ tensor: TensorAddress) { store.tensor(tensor)?.pages?.read() }
}
