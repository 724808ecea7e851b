import BundleFormat
import Checkpoint
import Foundation
import TensorIO

/// An ingot bundle: dense tensors are views of the data files; each expert projection is untiled
/// (`TileLayout.untile`) into buffers allocated once, from the mapping (raw bundles) or from its extent
/// decompressed on its own (zstd bundles).
final class BundleExportSource: ExportSource {
    let reader: BundleReader
    let filesFolder: String
    let tensors: [TensorInfo]
    private var packed = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var scales = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    init(folder: String) throws {
        reader = try BundleReader(folder: folder)
        filesFolder = (folder as NSString).appendingPathComponent("files")
        var infos: [TensorInfo] = []
        for shard in reader.manifest.sourceShards {
            for name in shard.tensors { infos.append(try Self.info(name, reader: reader)) }
        }
        infos.sort { $0.name < $1.name }
        tensors = infos
    }

    deinit {
        packed.deallocate()
        scales.deallocate()
    }

    /// The checkpoint entry of a source tensor (offsets 0), from the manifest.
    private static func info(_ name: String, reader: BundleReader) throws -> TensorInfo {
        if let t = reader.tensor(name) { return TensorInfo(name: name, dtype: t.dtype, shape: t.shape, begin: 0, end: 0) }
        guard let a = TensorAddress(name: name), let layer = a.layer, let expert = a.expert,
            let e = reader.expert(layer: layer, expert: expert), let p = e.projections.first(where: { $0.component == a.component })
        else { throw GGUFError.unsupportedSource(tensor: name, reason: "listed in the bundle's source_shards, but no extent holds it") }
        switch a.part {
        case .weightPacked: return TensorInfo(name: name, dtype: .i32, shape: [p.rows, p.columns / 8], begin: 0, end: 0)
        case .weightScale:
            return TensorInfo(name: name, dtype: .bf16, shape: [p.rows, p.columns / TileLayout.groupSize], begin: 0, end: 0)
        case .weightShape: return TensorInfo(name: name, dtype: p.shapeDType, shape: [2], begin: 0, end: 0)
        default: throw GGUFError.unsupportedSource(tensor: name, reason: "not a part the int4-tiles layout stores")
        }
    }

    func dense(_ name: String, _ body: (UnsafeRawBufferPointer, TensorInfo, (Int) -> Void) throws -> Void) throws {
        guard let t = reader.tensor(name) else { throw GGUFError.unsupportedSource(tensor: name, reason: "missing from the bundle") }
        let mapping = reader.mapping(t.file)
        try body(reader.tensorBytes(t), TensorInfo(name: name, dtype: t.dtype, shape: t.shape, begin: 0, end: t.bytes)) { n in
            mapping?.release(offset: t.offset, count: n)
        }
        if let mapping { releaseWholePages(mapping, offset: t.offset, count: t.storedBytes) }
    }

    func expert(
        layer: Int, component: TensorAddress.Component, expert: Int, rows: Int, columns: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let name = TensorAddress(layer: layer, component: component, expert: expert).moduleName
        guard let e = reader.expert(layer: layer, expert: expert), let p = e.projections.first(where: { $0.component == component })
        else { throw GGUFError.unsupportedSource(tensor: name, reason: "the bundle has no extent for it") }
        guard p.rows == rows, p.columns == columns else {
            throw GGUFError.unsupportedSource(
                tensor: name, reason: "the bundle stores [\(p.rows), \(p.columns)], expected [\(rows), \(columns)]")
        }
        let packedBytes = rows * columns / 2, scaleBytes = rows * columns / TileLayout.groupSize * 2
        if packed.count < packedBytes {
            packed.deallocate()
            packed = .allocate(byteCount: packedBytes, alignment: 64)
        }
        if scales.count < scaleBytes {
            scales.deallocate()
            scales = .allocate(byteCount: scaleBytes, alignment: 64)
        }
        let pk = UnsafeMutableRawBufferPointer(rebasing: packed[0..<packedBytes])
        let sc = UnsafeMutableRawBufferPointer(rebasing: scales[0..<scaleBytes])
        try reader.expertExtent(e) { raw in
            reader.manifest.layout.untile(
                UnsafeRawBufferPointer(rebasing: raw[p.offset..<(p.offset + p.bytes)]), rows: rows, columns: columns, packed: pk,
                scales: sc)
        }
        if let m = reader.mapping(e.file) {
            if case .none = reader.manifest.compression {
                releaseWholePages(m, offset: e.offset + p.offset, count: p.bytes)
            } else {
                releaseWholePages(m, offset: e.offset, count: e.storedBytes)
            }
        }
        try body(UnsafeRawBufferPointer(pk), UnsafeRawBufferPointer(sc))
    }

    func prefetch(layer: Int, component: TensorAddress.Component, expert: Int) {
        guard let e = reader.expert(layer: layer, expert: expert), let m = reader.mapping(e.file) else { return }
        if case .none = reader.manifest.compression, let p = e.projections.first(where: { $0.component == component }) {
            m.adviseWillNeed(offset: e.offset + p.offset, count: p.bytes)
        } else {
            m.adviseWillNeed(offset: e.offset, count: e.storedBytes)
        }
    }
}
