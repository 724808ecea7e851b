import Checkpoint
import Foundation
import TensorIO

/// Converts planned tensors row by row into a ``GGUFFileWriter`` through buffers allocated once.
///
/// The source drops its pages of each tensor once it is converted, so resident memory stays flat however large
/// the model is.
final class TensorEmitter {
    private let source: ExportSource
    /// One row of floats (the widest row of any tensor).
    private let floats: UnsafeMutableBufferPointer<Float>
    /// One encoded output row.
    private let row: UnsafeMutableRawBufferPointer
    private static let copyChunk = 4 << 20

    init(source: ExportSource, maxRow: Int) {
        self.source = source
        floats = .allocate(capacity: maxRow)
        row = .allocate(byteCount: max(maxRow * 4, 64), alignment: 64)
    }

    deinit {
        floats.deallocate()
        row.deallocate()
    }

    /// Writes `p`'s data; returns its Q4_0 group count and how many of those have an inexact scale.
    func emit(
        _ p: PlannedTensor, to writer: GGUFFileWriter, listLimit: Int, examples: inout [GGUFExportReport.InexactGroup],
        progress: (Int) -> Void
    ) throws -> (groups: Int, inexact: Int) {
        let out = p.info
        switch p.source {
        case .dense(let name):
            try source.dense(name) { bytes, info, consumed in
                guard info.elementCount == out.elementCount else {
                    throw GGUFError.unsupportedSource(
                        tensor: name, reason: "\(info.elementCount) elements, \(out.name) needs \(out.elementCount)")
                }
                try dense(
                    bytes, dtype: info.dtype, columns: out.dims[0], type: out.type, writer: writer, consumed: consumed, progress: progress)
            }
        case .denseExperts(let layer, let component, let count, _, _):
            for e in 0..<count {
                try source.dense(TensorAddress(layer: layer, component: component, expert: e).name) { bytes, info, consumed in
                    try dense(
                        bytes, dtype: info.dtype, columns: out.dims[0], type: out.type, writer: writer, consumed: consumed,
                        progress: progress)
                }
            }
        case .keyB(let name, let heads, let nope, let v, let lora):
            try source.dense(name) { bytes, info, _ in
                guard let base = bytes.baseAddress, let f = floats.baseAddress, let o = row.baseAddress else { return }
                let size = info.dtype.byteSize ?? 2
                for h in 0..<heads {
                    for l in 0..<lora {
                        for n in 0..<nope {
                            FloatConversion.convert(
                                base + ((h * (nope + v) + n) * lora + l) * size, dtype: info.dtype, count: 1, into: f + n)
                        }
                        GGUFKernels.encode(f, count: nope, as: out.type, into: o)
                        try writer.write(UnsafeRawBufferPointer(start: o, count: out.rowBytes))
                        progress(out.rowBytes)
                    }
                }
            }
        case .valueB(let name, let heads, let nope, let v, let lora):
            try source.dense(name) { bytes, info, _ in
                guard let base = bytes.baseAddress, let f = floats.baseAddress, let o = row.baseAddress else { return }
                let size = info.dtype.byteSize ?? 2
                for h in 0..<heads {
                    for vi in 0..<v {
                        FloatConversion.convert(base + (h * (nope + v) + nope + vi) * lora * size, dtype: info.dtype, count: lora, into: f)
                        GGUFKernels.encode(f, count: lora, as: out.type, into: o)
                        try writer.write(UnsafeRawBufferPointer(start: o, count: out.rowBytes))
                        progress(out.rowBytes)
                    }
                }
            }
        case .int4Experts(let layer, let component, let count, let rows, let columns):
            var inexact = 0
            let groups = columns / 32
            source.prefetch(layer: layer, component: component, expert: 0)
            for e in 0..<count {
                if e + 1 < count { source.prefetch(layer: layer, component: component, expert: e + 1) }
                try source.expert(layer: layer, component: component, expert: e, rows: rows, columns: columns) { packed, scales in
                    guard let pb = packed.baseAddress, let sb = scales.baseAddress, let o = row.baseAddress else { return }
                    for r in 0..<rows {
                        inexact += GGUFKernels.q4_0Row(packed: pb + r * columns / 2, scales: sb + r * groups * 2, groups: groups, into: o) {
                            g, bits in
                            guard examples.count < listLimit else { return }
                            let value = FloatConversion.float(bf16: bits)
                            examples.append(
                                .init(
                                    tensor: out.name,
                                    source: TensorAddress(layer: layer, component: component, expert: e, part: .weightScale).name,
                                    expert: e, row: r, group: g, scaleBF16: bits, scale: value,
                                    scaleF16: FloatConversion.float(f16: FloatConversion.f16(value))))
                        }
                        try writer.write(UnsafeRawBufferPointer(start: o, count: out.rowBytes))
                    }
                }
                progress(rows * out.rowBytes)
            }
            return (rows * groups * count, inexact)
        }
        return (0, 0)
    }

    /// A float tensor in rows of `columns`: same-type copies pass bytes through, the rest converts row by row.
    /// Every ``copyChunk`` bytes of source it calls `consumed`, so a tensor larger than memory is never resident.
    private func dense(
        _ bytes: UnsafeRawBufferPointer, dtype: DType, columns: Int, type: GGMLType, writer: GGUFFileWriter,
        consumed: (Int) -> Void, progress: (Int) -> Void
    ) throws {
        let same = (dtype == .bf16 && type == .bf16) || (dtype == .f32 && type == .f32) || (dtype == .f16 && type == .f16)
        if same {
            var offset = 0
            while offset < bytes.count {
                let n = min(Self.copyChunk, bytes.count - offset)
                try writer.write(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
                progress(n)
                offset += n
                consumed(offset)
            }
            return
        }
        guard let base = bytes.baseAddress, let f = floats.baseAddress, let o = row.baseAddress, let size = dtype.byteSize else { return }
        let rows = bytes.count / size / columns
        let rowBytes = type.rowBytes(columns) ?? 0
        var released = 0
        for r in 0..<rows {
            FloatConversion.convert(base + r * columns * size, dtype: dtype, count: columns, into: f)
            GGUFKernels.encode(f, count: columns, as: type, into: o)
            try writer.write(UnsafeRawBufferPointer(start: o, count: rowBytes))
            progress(rowBytes)
            let read = (r + 1) * columns * size
            if read - released >= Self.copyChunk {
                consumed(read)
                released = read
            }
        }
    }
}
