import BundleFormat
import Checkpoint
import Foundation
import TensorIO

/// Where an export reads its tensors: a safetensors checkpoint or an ingot bundle made from one. Both present the
/// checkpoint's tensors (the bundle's expert extents as the `weight_packed` / `weight_scale` / `weight_shape` they
/// were tiled from), so the plan and the output bytes do not depend on which one is read.
protocol ExportSource: AnyObject {
    /// The folder with config.json and the tokenizer files (a bundle's `files/`).
    var filesFolder: String { get }
    /// Every source tensor, sorted by name; begin/end are meaningless for a bundle.
    var tensors: [TensorInfo] { get }
    /// Calls `body` with a non-expert tensor's bytes, its entry, and a function that drops the pages of the first
    /// n bytes (for tensors larger than memory should hold: a K2 embedding is 2.3 GB); then drops all its pages.
    func dense(_ name: String, _ body: (UnsafeRawBufferPointer, TensorInfo, _ consumed: (Int) -> Void) throws -> Void) throws
    /// Calls `body` with one routed expert projection as compressed-tensors bytes: packed `q + 8` nibbles
    /// ([rows, columns/2] bytes, column 2m in the low nibble of byte m) and BF16 scales ([rows, columns/32]).
    func expert(
        layer: Int, component: TensorAddress.Component, expert: Int, rows: Int, columns: Int,
        _ body: (_ packed: UnsafeRawBufferPointer, _ scales: UnsafeRawBufferPointer) throws -> Void) throws
    /// Asks the kernel to start reading an expert projection that ``expert(layer:component:expert:rows:columns:_:)``
    /// will want next (`madvise(MADV_WILLNEED)`), so reading overlaps converting and writing.
    func prefetch(layer: Int, component: TensorAddress.Component, expert: Int)
}

/// Opens `path` as a bundle (a folder with manifest.json) or a checkpoint.
func openExportSource(_ path: String) throws -> any ExportSource {
    BundleReader.isBundle(path) ? try BundleExportSource(folder: path) : try CheckpointExportSource(path: path)
}

/// Drops the process's mapping of `count` bytes at `offset` and of everything within ``faultAroundSpan`` of them.
///
/// Reading a page of a file mapping also maps up to 16 neighbours already in the page cache (Linux "fault-around",
/// `fault_around_bytes`, 64 KiB by default, within one 2 MiB page table). Those neighbours belong to tensors read
/// earlier or later; dropping only a tensor's own pages left them behind, so resident memory grew by up to a window
/// per tensor boundary (measured: 35 MB on a 91 MB, 13,800-tensor checkpoint). Dropping the aligned span around the
/// tensor removes whatever its reads mapped; a neighbour still to be read faults its pages back in from the cache.
func releaseWholePages(_ mapping: MappedFile, offset: Int, count: Int) {
    let span = faultAroundSpan
    let start = offset / span * span
    let end = min(mapping.length, (offset + count + span - 1) / span * span)
    mapping.release(offset: start, count: end - start)
}

/// The largest span fault-around can map in one fault: one page table (512 × 4 KiB).
let faultAroundSpan = 2 << 20

/// A safetensors checkpoint (folder, index or single file): tensors are views of the shard mappings.
final class CheckpointExportSource: ExportSource {
    let checkpoint: SafetensorsCheckpoint
    var filesFolder: String { checkpoint.location.folder }

    init(path: String) throws { checkpoint = try SafetensorsCheckpoint(path: path) }

    var tensors: [TensorInfo] { checkpoint.tensorNames.compactMap { checkpoint.info($0) } }

    private func lookup(_ name: String) throws -> (file: SafetensorsFile, info: TensorInfo) {
        guard let found = checkpoint.lookup(name) else { throw GGUFError.unsupportedSource(tensor: name, reason: "missing") }
        return found
    }

    private func release(_ file: SafetensorsFile, _ info: TensorInfo) {
        releaseWholePages(file.mapping, offset: file.header.dataStart + info.begin, count: info.end - info.begin)
    }

    func dense(_ name: String, _ body: (UnsafeRawBufferPointer, TensorInfo, (Int) -> Void) throws -> Void) throws {
        let (file, info) = try lookup(name)
        let start = file.header.dataStart + info.begin
        try body(file.bytes(of: info), info) { n in file.mapping.release(offset: start, count: n) }
        release(file, info)
    }

    func expert(
        layer: Int, component: TensorAddress.Component, expert: Int, rows: Int, columns: Int,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let packedName = TensorAddress(layer: layer, component: component, expert: expert, part: .weightPacked).name
        let scaleName = TensorAddress(layer: layer, component: component, expert: expert, part: .weightScale).name
        try checkWeightShape(TensorAddress(layer: layer, component: component, expert: expert, part: .weightShape).name, rows, columns)
        let packed = try lookup(packedName), scales = try lookup(scaleName)
        try body(packed.file.bytes(of: packed.info), scales.file.bytes(of: scales.info))
        release(packed.file, packed.info)
        release(scales.file, scales.info)
    }

    func prefetch(layer: Int, component: TensorAddress.Component, expert: Int) {
        for part in [TensorAddress.Part.weightPacked, .weightScale] {
            guard let (file, info) = checkpoint.lookup(TensorAddress(layer: layer, component: component, expert: expert, part: part).name)
            else { continue }
            file.mapping.adviseWillNeed(offset: file.header.dataStart + info.begin, count: info.byteCount)
        }
    }

    /// `weight_shape` (I64 or I32, when present) must be [rows, columns]: Q4_0 has no padding to crop.
    private func checkWeightShape(_ name: String, _ rows: Int, _ columns: Int) throws {
        guard let (file, info) = checkpoint.lookup(name) else { return }
        let b = file.bytes(of: info)
        var values: [Int] = []
        switch info.dtype {
        case .i64:
            values = (0..<info.elementCount).map { Int(Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
        case .i32:
            values = (0..<info.elementCount).map { Int(Int32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        default: throw GGUFError.unsupportedSource(tensor: name, reason: "dtype \(info.dtype.rawValue), expected I64 or I32")
        }
        guard values == [rows, columns] else {
            throw GGUFError.unsupportedSource(tensor: name, reason: "holds \(values), the packed data is [\(rows), \(columns)]")
        }
    }
}

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
