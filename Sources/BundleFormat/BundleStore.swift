public import Checkpoint
public import Foundation
public import TensorIO

/// An ingot bundle as a ``ModelStore``: dense tensors and raw expert tiles are views of the data files; compressed
/// experts are decompressed one extent at a time (docs/bundle-format.md, docs/model-store.md).
public final class BundleStore: ModelStore, @unchecked Sendable {
    // Sendable: the reader is immutable; the decompressed-expert cache is guarded by `lock`.
    /// The opened bundle.
    public let reader: BundleReader
    public let config: ModelConfig
    public let filesFolder: String
    public var origin: String { reader.folder }
    private let lock = NSLock()
    /// Decompressed extents kept for the engine (`keep: true`) until their layer is released.
    private var kept: [ExpertID: Buffer] = [:]

    /// An owned, 64-byte aligned copy of a decompressed extent.
    private final class Buffer {
        let bytes: UnsafeMutableRawBufferPointer
        init(_ source: UnsafeRawBufferPointer) {
            bytes = .allocate(byteCount: source.count, alignment: 64)
            bytes.copyMemory(from: source)
        }
        deinit { bytes.deallocate() }
    }

    /// Opens the bundle at `folder` and its copy of config.json.
    ///
    /// - Throws: ``BundleError``, ``CheckpointError`` or ``FileError``.
    public init(folder: String) throws {
        reader = try BundleReader(folder: folder)
        filesFolder = BundleReader.filesFolder(of: folder)
        config = try ModelConfig(path: (filesFolder as NSString).appendingPathComponent("config.json"))
    }

    /// True when the expert extents are zstd frames (read through a decompressed copy).
    public var isCompressed: Bool {
        if case .none = reader.manifest.compression { return false }
        return true
    }

    public func inventory() throws(BundleError) -> [TensorInfo] {
        var infos: [TensorInfo] = []
        for shard in reader.manifest.sourceShards {
            for name in shard.tensors { infos.append(try info(name)) }
        }
        return infos.sorted { $0.name < $1.name }
    }

    /// The checkpoint entry of a source tensor (offsets 0), from the manifest.
    private func info(_ name: String) throws(BundleError) -> TensorInfo {
        if let t = reader.tensor(name) { return TensorInfo(name: name, dtype: t.dtype, shape: t.shape, begin: 0, end: 0) }
        let manifestFile = (reader.folder as NSString).appendingPathComponent("manifest.json")
        guard let a = TensorAddress(name: name), let p = projection(a)?.projection else {
            throw BundleError.invalidManifest(file: manifestFile, reason: "no extent holds tensor \(name)")
        }
        switch a.part {
        case .weightPacked: return TensorInfo(name: name, dtype: .i32, shape: [p.rows, p.columns / 8], begin: 0, end: 0)
        case .weightScale:
            return TensorInfo(name: name, dtype: .bf16, shape: [p.rows, p.columns / TileLayout.groupSize], begin: 0, end: 0)
        case .weightShape: return TensorInfo(name: name, dtype: p.shapeDType, shape: [2], begin: 0, end: 0)
        default:
            throw BundleError.invalidManifest(
                file: manifestFile, reason: "tensor \(name) is not a part the \(TileLayout.id) layout stores")
        }
    }

    public func tensor(_ address: TensorAddress) -> TensorView? {
        guard let t = reader.tensor(address.name) else { return nil }
        let pages = reader.mapping(t.file).map { PageSpan(mapping: $0, offset: t.offset, count: t.storedBytes) }
        return TensorView(
            info: TensorInfo(name: t.name, dtype: t.dtype, shape: t.shape, begin: 0, end: t.bytes), bytes: reader.tensorBytes(t),
            pages: pages)
    }

    /// The extent and manifest entry of a routed-expert projection.
    private func projection(_ a: TensorAddress) -> (extent: BundleManifest.ExpertExtent, projection: BundleManifest.Projection)? {
        guard a.component.isRoutedExpert, let id = a.expertID, let e = reader.expert(layer: id.layer, expert: id.expert),
            let p = e.projections.first(where: { $0.component == a.component })
        else { return nil }
        return (e, p)
    }

    public func expert(_ address: TensorAddress, keep: Bool = true) throws -> ExpertProjection? {
        guard let (e, p) = projection(address) else { return nil }
        let extent = try extentBytes(e, keep: keep)
        return .tiles(
            TiledProjection(
                rows: p.rows, columns: p.columns, tileRows: reader.manifest.tileRows, groupSize: TileLayout.groupSize,
                bytes: UnsafeRawBufferPointer(rebasing: extent.bytes[p.offset..<(p.offset + p.bytes)]), owner: extent.owner,
                pages: pages(e, p)))
    }

    /// The stored bytes a projection is read from: its own for raw bundles, the whole extent's zstd frame otherwise.
    private func pages(_ e: BundleManifest.ExpertExtent, _ p: BundleManifest.Projection) -> PageSpan? {
        guard let m = reader.mapping(e.file) else { return nil }
        return isCompressed
            ? PageSpan(mapping: m, offset: e.offset, count: e.storedBytes)
            : PageSpan(mapping: m, offset: e.offset + p.offset, count: p.bytes)
    }

    /// An expert extent's raw bytes: the mapping for raw bundles, a decompressed copy otherwise (kept until its
    /// layer is released when `keep`).
    private func extentBytes(_ e: BundleManifest.ExpertExtent, keep: Bool) throws -> (bytes: UnsafeRawBufferPointer, owner: AnyObject?) {
        if !isCompressed {
            var view = UnsafeRawBufferPointer(start: nil, count: 0)
            try reader.expertExtent(e) { view = $0 }
            return (view, nil)
        }
        let key = ExpertID(layer: e.layer, expert: e.expert)
        if keep, let b = lock.withLock({ kept[key] }) { return (UnsafeRawBufferPointer(b.bytes), b) }
        var made: Buffer?
        try reader.expertExtent(e) { made = Buffer($0) }
        guard let b = made else { preconditionFailure("BundleReader.expertExtent did not call its body") }
        if keep { lock.withLock { kept[key] = b } }
        return (UnsafeRawBufferPointer(b.bytes), b)
    }

    public func expertPages(_ address: TensorAddress) -> [PageSpan] {
        guard let (e, p) = projection(address), let span = pages(e, p) else { return [] }
        return [span]
    }

    public func layerPages(_ layer: Int?) -> [PageSpan] {
        var spans: [PageSpan] = []
        for t in reader.manifest.tensors where TensorAddress.layer(ofName: t.name) == layer {
            if let m = reader.mapping(t.file) { spans.append(PageSpan(mapping: m, offset: t.offset, count: t.storedBytes)) }
        }
        guard let layer else { return spans }
        for e in reader.manifest.experts where e.layer == layer {
            if let m = reader.mapping(e.file) { spans.append(PageSpan(mapping: m, offset: e.offset, count: e.storedBytes)) }
        }
        return spans
    }

    public func release(layer: Int?) {
        releasePages(layer: layer)
        guard let layer else { return }
        lock.withLock { kept = kept.filter { $0.key.layer != layer } }
    }
}
