import Foundation
import TensorIO

/// Converts planned tensors row by row into a ``GGUFFileWriter`` through buffers allocated once.
///
/// After each source tensor it drops the process's mapping of that tensor's pages (`MappedFile.release`), so
/// resident memory stays flat however large the checkpoint is.
final class TensorEmitter {
    private let checkpoint: SafetensorsCheckpoint
    /// One row of floats (the widest row of any tensor).
    private let floats: UnsafeMutableBufferPointer<Float>
    /// One encoded output row.
    private let row: UnsafeMutableRawBufferPointer
    private static let copyChunk = 4 << 20

    init(checkpoint: SafetensorsCheckpoint, maxRow: Int) throws {
        self.checkpoint = checkpoint
        floats = .allocate(capacity: maxRow)
        row = .allocate(byteCount: max(maxRow * 4, 64), alignment: 64)
    }

    deinit {
        floats.deallocate()
        row.deallocate()
    }

    private func source(_ name: String) throws -> (bytes: UnsafeRawBufferPointer, info: TensorInfo, file: SafetensorsFile) {
        guard let (file, info) = checkpoint.lookup(name) else { throw GGUFError.unsupportedSource(tensor: name, reason: "missing") }
        return (file.bytes(of: info), info, file)
    }

    /// Drops the pages of a source tensor, the partial pages at both ends included (the mapping is read-only and
    /// file-backed, so a neighbour that still needs them faults them back in from the page cache); small tensors
    /// would otherwise leave their pages resident.
    private func release(_ s: (bytes: UnsafeRawBufferPointer, info: TensorInfo, file: SafetensorsFile)) {
        let start = (s.file.header.dataStart + s.info.begin) / Self.page * Self.page
        let end = (s.file.header.dataStart + s.info.end + Self.page - 1) / Self.page * Self.page
        s.file.mapping.release(offset: start, count: end - start)
    }

    private static let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Writes `p`'s data; returns its Q4_0 group count and how many of those have an inexact scale.
    func emit(
        _ p: PlannedTensor, to writer: GGUFFileWriter, listLimit: Int, examples: inout [GGUFExportReport.InexactGroup],
        progress: (Int) -> Void
    ) throws -> (groups: Int, inexact: Int) {
        let out = p.info
        switch p.source {
        case .dense(let name):
            let s = try source(name)
            guard s.info.elementCount == out.elementCount else {
                throw GGUFError.unsupportedSource(
                    tensor: name, reason: "\(s.info.elementCount) elements, \(out.name) needs \(out.elementCount)")
            }
            try dense(s.bytes, dtype: s.info.dtype, columns: out.dims[0], type: out.type, writer: writer, progress: progress)
            release(s)
        case .denseExperts(let names, _, _):
            for name in names {
                let s = try source(name)
                try dense(s.bytes, dtype: s.info.dtype, columns: out.dims[0], type: out.type, writer: writer, progress: progress)
                release(s)
            }
        case .keyB(let name, let heads, let nope, let v, let lora):
            let s = try source(name)
            guard let base = s.bytes.baseAddress, let f = floats.baseAddress, let o = row.baseAddress else { return (0, 0) }
            let size = s.info.dtype.byteSize ?? 2
            for h in 0..<heads {
                for l in 0..<lora {
                    for n in 0..<nope {
                        FloatConversion.convert(base + ((h * (nope + v) + n) * lora + l) * size, dtype: s.info.dtype, count: 1, into: f + n)
                    }
                    GGUFKernels.encode(f, count: nope, as: out.type, into: o)
                    try writer.write(UnsafeRawBufferPointer(start: o, count: out.rowBytes))
                    progress(out.rowBytes)
                }
            }
            release(s)
        case .valueB(let name, let heads, let nope, let v, let lora):
            let s = try source(name)
            guard let base = s.bytes.baseAddress, let f = floats.baseAddress, let o = row.baseAddress else { return (0, 0) }
            let size = s.info.dtype.byteSize ?? 2
            for h in 0..<heads {
                for vi in 0..<v {
                    FloatConversion.convert(base + (h * (nope + v) + nope + vi) * lora * size, dtype: s.info.dtype, count: lora, into: f)
                    GGUFKernels.encode(f, count: lora, as: out.type, into: o)
                    try writer.write(UnsafeRawBufferPointer(start: o, count: out.rowBytes))
                    progress(out.rowBytes)
                }
            }
            release(s)
        case .int4Experts(let packedNames, let scaleNames, let rows, let columns):
            var inexact = 0
            let groups = columns / 32
            for (e, (packedName, scaleName)) in zip(packedNames, scaleNames).enumerated() {
                try checkWeightShape(packedName, rows: rows, columns: columns)
                let packed = try source(packedName), scales = try source(scaleName)
                guard let pb = packed.bytes.baseAddress, let sb = scales.bytes.baseAddress, let o = row.baseAddress else { continue }
                for r in 0..<rows {
                    inexact += GGUFKernels.q4_0Row(packed: pb + r * columns / 2, scales: sb + r * groups * 2, groups: groups, into: o) {
                        g, bits in
                        guard examples.count < listLimit else { return }
                        let value = FloatConversion.float(bf16: bits)
                        examples.append(
                            .init(
                                tensor: out.name, source: scaleName, expert: e, row: r, group: g, scaleBF16: bits, scale: value,
                                scaleF16: FloatConversion.float(f16: FloatConversion.f16(value))))
                    }
                    try writer.write(UnsafeRawBufferPointer(start: o, count: out.rowBytes))
                }
                progress(rows * out.rowBytes)
                release(packed)
                release(scales)
            }
            return (rows * groups * packedNames.count, inexact)
        }
        return (0, 0)
    }

    /// `weight_shape` (I64 or I32, when present) must be [rows, columns]: Q4_0 has no padding to crop.
    private func checkWeightShape(_ packedName: String, rows: Int, columns: Int) throws {
        let name = String(packedName.dropLast("weight_packed".count)) + "weight_shape"
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

    /// A float tensor in rows of `columns`: same-type copies pass bytes through, the rest converts row by row.
    private func dense(
        _ bytes: UnsafeRawBufferPointer, dtype: DType, columns: Int, type: GGMLType, writer: GGUFFileWriter, progress: (Int) -> Void
    ) throws {
        let same = (dtype == .bf16 && type == .bf16) || (dtype == .f32 && type == .f32) || (dtype == .f16 && type == .f16)
        if same {
            var offset = 0
            while offset < bytes.count {
                let n = min(Self.copyChunk, bytes.count - offset)
                try writer.write(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
                progress(n)
                offset += n
            }
            return
        }
        guard let base = bytes.baseAddress, let f = floats.baseAddress, let o = row.baseAddress, let size = dtype.byteSize else { return }
        let rows = bytes.count / size / columns
        let rowBytes = type.rowBytes(columns) ?? 0
        for r in 0..<rows {
            FloatConversion.convert(base + r * columns * size, dtype: dtype, count: columns, into: f)
            GGUFKernels.encode(f, count: columns, as: type, into: o)
            try writer.write(UnsafeRawBufferPointer(start: o, count: rowBytes))
            progress(rowBytes)
        }
    }
}
