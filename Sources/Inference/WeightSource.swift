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
    case badRequest(String)

    public var errorDescription: String? {
        switch self {
        case .missingTensor(let source, let tensor): "\(source): the model needs tensor \(tensor), which is not there"
        case .badShape(let tensor, let shape, let expected): "tensor \(tensor) has shape \(shape), expected \(expected)"
        case .unsupportedDType(let tensor, let dtype): "tensor \(tensor): the engine cannot compute with dtype \(dtype)"
        case .unsupportedQuantization(let tensor, let detail): "tensor \(tensor): unsupported quantization (\(detail))"
        case .tokenOutOfRange(let token, let vocab): "token id \(token) is outside the vocabulary (0..<\(vocab))"
        case .badRequest(let message): message
        }
    }
}

/// Where the engine's weights come from: an HF checkpoint or an ingot bundle, read in place through mmap.
public protocol WeightSource: AnyObject, Sendable {
    /// The model's config.json.
    var config: ModelConfig { get }
    /// A description for messages (the folder).
    var origin: String { get }
    /// The linear weight of a module (`model.layers.3.self_attn.q_a_proj`), in whatever storage the source has.
    func linear(_ module: String, rows: Int, cols: Int) throws -> LinearWeight
    /// A small f32 vector (norm weights, router bias), converted.
    func vector(_ name: String, count: Int) throws -> [Float]
    /// Drops the resident pages of one layer's weights (layer-streamed evaluation); `nil` = the global tensors.
    func release(layer: Int?)
    /// Asks the kernel to read one layer's weights ahead.
    func prefetch(layer: Int?)
}

/// Opens a checkpoint folder or a bundle.
public func openWeights(_ path: String) throws -> any WeightSource {
    BundleReader.isBundle(path) ? try BundleWeights(folder: path) : try CheckpointWeights(path: path)
}

/// The layer a tensor name belongs to, or nil for global tensors.
func layerOf(_ name: String) -> Int? {
    guard name.hasPrefix("model.layers.") else { return nil }
    let rest = name.dropFirst("model.layers.".count)
    return rest.split(separator: ".", maxSplits: 1).first.flatMap { Int($0) }
}

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

/// Weights of a Hugging Face checkpoint (single file, sharded or HF cache): BF16/F16/F32 dense, F8_E4M3 block
/// (`weight_scale_inv`), and compressed-tensors pack-quantized INT4 group-32 symmetric.
public final class CheckpointWeights: WeightSource, @unchecked Sendable {
    // Sendable: immutable after init; mappings are read-only.
    public let checkpoint: SafetensorsCheckpoint
    public let config: ModelConfig
    public var origin: String { checkpoint.location.folder }
    private let layerTensors: [Int?: [String]]

    public init(path: String) throws {
        let folder = try ModelFolder(path: path)
        checkpoint = folder.tensors
        config = folder.config
        var byLayer: [Int?: [String]] = [:]
        for name in checkpoint.tensorNames { byLayer[layerOf(name), default: []].append(name) }
        layerTensors = byLayer
    }

    private func tensor(_ name: String) throws -> (info: TensorInfo, bytes: UnsafeRawBufferPointer) {
        guard let (file, info) = checkpoint.lookup(name) else { throw InferenceError.missingTensor(source: origin, tensor: name) }
        return (info, file.bytes(of: info))
    }

    private func mapping(of name: String) -> MappedFile? { checkpoint.lookup(name)?.file.mapping }

    public func linear(_ module: String, rows: Int, cols: Int) throws -> LinearWeight {
        if checkpoint.info(module + ".weight") != nil {
            let (info, bytes) = try tensor(module + ".weight")
            guard info.shape == [rows, cols] else {
                throw InferenceError.badShape(tensor: info.name, shape: info.shape, expected: "[\(rows), \(cols)]")
            }
            switch info.dtype {
            case .bf16, .f16, .f32:
                return LinearWeight(
                    name: module, rows: rows, cols: cols, storage: .dense(info.dtype), bytes: bytes,
                    mapping: mapping(of: module + ".weight"))
            case .f8E4M3:
                let (sInfo, sBytes) = try tensor(module + ".weight_scale_inv")
                let block =
                    config.quantization.flatMap { q -> [Int]? in
                        if case .fp8Block(let b) = q { return b.blockSize }
                        return nil
                    } ?? [128, 128]
                let expected = [(rows + block[0] - 1) / block[0], (cols + block[1] - 1) / block[1]]
                guard sInfo.dtype == .f32, sInfo.shape == expected else {
                    throw InferenceError.badShape(tensor: sInfo.name, shape: sInfo.shape, expected: "F32 \(expected)")
                }
                return LinearWeight(
                    name: module, rows: rows, cols: cols, storage: .fp8Block(scaleInv: sBytes, block: (block[0], block[1])),
                    bytes: bytes)
            default:
                throw InferenceError.unsupportedDType(tensor: info.name, dtype: info.dtype.rawValue)
            }
        }
        guard checkpoint.info(module + ".weight_packed") != nil else {
            throw InferenceError.missingTensor(source: origin, tensor: module + ".weight")
        }
        let (pInfo, packed) = try tensor(module + ".weight_packed")
        let (sInfo, scales) = try tensor(module + ".weight_scale")
        if case .compressedTensors(let ct) = config.quantization {
            let className = TensorAddress(name: module + ".weight").map { $0.component.className } ?? "Linear"
            if let args = ct.weightArgs(module: module, className: className) {
                guard args.numBits == 4, args.symmetric, args.groupSize == 32, args.type == "int" else {
                    throw InferenceError.unsupportedQuantization(
                        tensor: pInfo.name,
                        detail: "\(args.numBits)-bit \(args.type) group \(args.groupSize.map(String.init) ?? "none") "
                            + (args.symmetric ? "symmetric" : "asymmetric") + "; the engine reads 4-bit symmetric group 32")
                }
            }
        }
        guard cols % 32 == 0, pInfo.dtype == .i32, pInfo.shape == [rows, cols / 8] else {
            throw InferenceError.badShape(tensor: pInfo.name, shape: pInfo.shape, expected: "I32 [\(rows), \(cols / 8)]")
        }
        guard sInfo.dtype == .bf16, sInfo.shape == [rows, cols / 32] else {
            throw InferenceError.badShape(tensor: sInfo.name, shape: sInfo.shape, expected: "BF16 [\(rows), \(cols / 32)]")
        }
        return LinearWeight(name: module, rows: rows, cols: cols, storage: .int4Packed(scales: scales), bytes: packed)
    }

    public func vector(_ name: String, count: Int) throws -> [Float] {
        let (info, bytes) = try tensor(name)
        guard info.shape == [count] else { throw InferenceError.badShape(tensor: name, shape: info.shape, expected: "[\(count)]") }
        return try floats(bytes, dtype: info.dtype, name: name)
    }

    private func ranges(layer: Int?, _ body: (MappedFile, Int, Int) -> Void) {
        for name in layerTensors[layer] ?? [] {
            guard let (file, info) = checkpoint.lookup(name) else { continue }
            let bytes = file.bytes(of: info)
            guard let base = file.mapping.bytes.baseAddress, let start = bytes.baseAddress else { continue }
            body(file.mapping, start - base, bytes.count)
        }
    }

    public func release(layer: Int?) { ranges(layer: layer) { $0.release(offset: $1, count: $2) } }
    public func prefetch(layer: Int?) { ranges(layer: layer) { $0.adviseWillNeed(offset: $1, count: $2) } }
}

/// Weights of an ingot bundle: dense tensors and raw expert tiles are views of the mapping; compressed experts are
/// decompressed one at a time and kept until their layer is released.
public final class BundleWeights: WeightSource, @unchecked Sendable {
    // Sendable: the reader is immutable; the decompressed-expert cache is guarded by `lock`.
    public let reader: BundleReader
    public let config: ModelConfig
    public var origin: String { reader.folder }
    private let lock = NSLock()

    private final class Buffer {
        let bytes: UnsafeMutableRawBufferPointer
        init(_ source: UnsafeRawBufferPointer) {
            bytes = .allocate(byteCount: source.count, alignment: 64)
            bytes.copyMemory(from: source)
        }
        deinit { bytes.deallocate() }
    }
    private var buffers: [[Int]: Buffer] = [:]

    public init(folder: String) throws {
        reader = try BundleReader(folder: folder)
        config = try ModelConfig(path: (folder as NSString).appendingPathComponent("files/config.json"))
    }

    public func linear(_ module: String, rows: Int, cols: Int) throws -> LinearWeight {
        if let address = TensorAddress(name: module + ".weight"), address.component.isRoutedExpert,
            let layer = address.layer, let expert = address.expert
        {
            guard let e = reader.expert(layer: layer, expert: expert) else {
                throw InferenceError.missingTensor(source: origin, tensor: module)
            }
            guard let p = e.projections.first(where: { $0.component == address.component }) else {
                throw InferenceError.missingTensor(source: origin, tensor: module)
            }
            guard p.rows == rows, p.columns == cols else {
                throw InferenceError.badShape(tensor: module, shape: [p.rows, p.columns], expected: "[\(rows), \(cols)]")
            }
            let extent = try extentBytes(e)
            let bytes = UnsafeRawBufferPointer(rebasing: extent.bytes[p.offset..<(p.offset + p.bytes)])
            return LinearWeight(
                name: module, rows: rows, cols: cols, storage: .int4Tiles(tileRows: reader.manifest.tileRows), bytes: bytes,
                owner: extent.owner)
        }
        guard let t = reader.tensor(module + ".weight") else {
            throw InferenceError.missingTensor(source: origin, tensor: module + ".weight")
        }
        guard t.shape == [rows, cols] else { throw InferenceError.badShape(tensor: t.name, shape: t.shape, expected: "[\(rows), \(cols)]") }
        switch t.dtype {
        case .bf16, .f16, .f32:
            return LinearWeight(
                name: module, rows: rows, cols: cols, storage: .dense(t.dtype), bytes: reader.tensorBytes(t),
                mapping: reader.mapping(t.file))
        default:
            throw InferenceError.unsupportedDType(tensor: t.name, dtype: t.dtype.rawValue)
        }
    }

    /// An expert extent's raw bytes: the mapping for raw bundles, a cached decompressed copy otherwise.
    private func extentBytes(_ e: BundleManifest.ExpertExtent) throws -> (bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        if case .none = reader.manifest.compression {
            var view = UnsafeRawBufferPointer(start: nil, count: 0)
            try reader.expertExtent(e) { view = $0 }
            return (view, nil)
        }
        let key = [e.layer, e.expert]
        lock.lock()
        if let b = buffers[key] {
            lock.unlock()
            return (UnsafeRawBufferPointer(b.bytes), b)
        }
        lock.unlock()
        var made: Buffer?
        try reader.expertExtent(e) { made = Buffer($0) }
        let b = made!
        lock.lock()
        buffers[key] = b
        lock.unlock()
        return (UnsafeRawBufferPointer(b.bytes), b)
    }

    public func vector(_ name: String, count: Int) throws -> [Float] {
        guard let t = reader.tensor(name) else { throw InferenceError.missingTensor(source: origin, tensor: name) }
        guard t.shape == [count] else { throw InferenceError.badShape(tensor: name, shape: t.shape, expected: "[\(count)]") }
        return try floats(reader.tensorBytes(t), dtype: t.dtype, name: name)
    }

    private func ranges(layer: Int?, _ body: (MappedFile, Int, Int) -> Void) {
        for t in reader.manifest.tensors where layerOf(t.name) == layer {
            if let m = reader.mapping(t.file) { body(m, t.offset, t.storedBytes) }
        }
        guard let layer else { return }
        for e in reader.manifest.experts where e.layer == layer {
            if let m = reader.mapping(e.file) { body(m, e.offset, e.storedBytes) }
        }
    }

    public func release(layer: Int?) {
        ranges(layer: layer) { $0.release(offset: $1, count: $2) }
        guard let layer else { return }
        lock.lock()
        buffers = buffers.filter { $0.key[0] != layer }
        lock.unlock()
    }

    public func prefetch(layer: Int?) { ranges(layer: layer) { $0.adviseWillNeed(offset: $1, count: $2) } }
}
