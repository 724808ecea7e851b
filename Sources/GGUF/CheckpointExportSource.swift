import Checkpoint
import Foundation
import TensorIO

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
