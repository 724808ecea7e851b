public import Checkpoint
public import Foundation
public import TensorIO

/// A Hugging Face checkpoint (single file, sharded or HF cache) as a ``ModelStore``: every tensor, routed experts
/// included, is a view of its shard's mapping.
public final class CheckpointStore: ModelStore, @unchecked Sendable {
    // Sendable: immutable after init; mappings are read-only.
    /// The validated shards.
    public let checkpoint: SafetensorsCheckpoint
    public let config: ModelConfig
    public var filesFolder: String { checkpoint.location.folder }
    public var origin: String { checkpoint.location.folder }
    /// Tensor names by layer (nil: global), for layer-streamed reads.
    private let layerTensors: [Int?: [String]]

    /// Opens `path`, validating every header and the index, then config.json beside them.
    ///
    /// - Throws: ``SafetensorsError``, ``CheckpointError`` or ``FileError``.
    public init(path: String) throws {
        checkpoint = try SafetensorsCheckpoint(path: path)
        config = try ModelConfig(path: checkpoint.location.file("config.json"))
        var byLayer: [Int?: [String]] = [:]
        for name in checkpoint.tensorNames { byLayer[TensorAddress.layer(ofName: name), default: []].append(name) }
        layerTensors = byLayer
    }

    public func inventory() -> [TensorInfo] { checkpoint.tensorNames.compactMap { checkpoint.info($0) } }

    public func tensor(_ address: TensorAddress) -> TensorView? { view(address.name) }

    private func view(_ name: String) -> TensorView? {
        guard let (file, info) = checkpoint.lookup(name) else { return nil }
        return TensorView(info: info, bytes: file.bytes(of: info), pages: span(file, info))
    }

    private func span(_ file: SafetensorsFile, _ info: TensorInfo) -> PageSpan {
        PageSpan(mapping: file.mapping, offset: file.header.dataStart + info.begin, count: info.end - info.begin)
    }

    /// compressed-tensors `weight_packed` + `weight_scale`; nil for experts stored as `weight` (BF16, FP8).
    public func expert(_ address: TensorAddress, keep: Bool = true) -> ExpertProjection? {
        guard let words = tensor(address.with(part: .weightPacked)), let scales = tensor(address.with(part: .weightScale))
        else { return nil }
        return .packed(words: words, scales: scales)
    }

    public func expertPages(_ address: TensorAddress) -> [PageSpan] {
        [TensorAddress.Part.weightPacked, .weightScale].compactMap { tensor(address.with(part: $0))?.pages }
    }

    public func layerPages(_ layer: Int?) -> [PageSpan] {
        (layerTensors[layer] ?? []).compactMap { name in checkpoint.lookup(name).map { span($0.file, $0.info) } }
    }
}
