import Checkpoint
import Foundation
import Quantization
import TensorIO

/// Builds expert extents from the source: tiles, optional planes + zstd, SHA-256; checks scales on the way.
enum ExpertBuilder {
    static let components: [TensorAddress.Component] = [.expertGate, .expertUp, .expertDown]

    static func name(_ layer: Int, _ c: TensorAddress.Component, _ expert: Int, _ p: TensorAddress.Part) -> String {
        TensorAddress(layer: layer, component: c, expert: expert, part: p).name
    }

    static func sourceTensors(layer: Int, expert: Int) -> [String] {
        components.flatMap { c in
            [name(layer, c, expert, .weightPacked), name(layer, c, expert, .weightScale), name(layer, c, expert, .weightShape)]
        }
    }

    /// Starts reading an expert's source tensors into the page cache (asynchronous read-ahead).
    static func adviseWillNeed(job: RepackJob, layer: Int, expert: Int) {
        for name in sourceTensors(layer: layer, expert: expert) {
            guard let (file, info) = job.model.tensors.lookup(name) else { continue }
            file.mapping.adviseWillNeed(offset: file.header.dataStart + info.begin, count: info.byteCount)
        }
    }

    /// The projection table of an expert (from headers only).
    static func projections(job: RepackJob, layer: Int, expert: Int) throws -> [BundleManifest.Projection] {
        var offset = 0
        var out: [BundleManifest.Projection] = []
        for c in components {
            guard let packed = job.model.tensors.info(name(layer, c, expert, .weightPacked)),
                let shape = job.model.tensors.info(name(layer, c, expert, .weightShape))
            else {
                throw SafetensorsError.missingTensor(file: job.model.folder, tensor: name(layer, c, expert, .weightPacked))
            }
            let rows = packed.shape[0], columns = packed.shape[1] * 8
            let bytes = job.layout.projectionBytes(rows: rows, columns: columns)
            offset = (offset + BundleRepacker.tensorAlignment - 1) / BundleRepacker.tensorAlignment * BundleRepacker.tensorAlignment
            out.append(.init(component: c, rows: rows, columns: columns, offset: offset, bytes: bytes, shapeDType: shape.dtype))
            offset += bytes
        }
        return out
    }

    static func build(job: RepackJob, layer: Int, expert: Int) throws -> BuiltExtent {
        let projections = try projections(job: job, layer: layer, expert: expert)
        let total = (projections.last.map { $0.offset + $0.bytes }) ?? 0
        var raw = [UInt8](repeating: 0, count: total)
        let tensors = job.model.tensors
        for p in projections {
            let packedName = name(layer, p.component, expert, .weightPacked), scaleName = name(layer, p.component, expert, .weightScale)
            guard let (packedFile, packedInfo) = tensors.lookup(packedName), let (scaleFile, scaleInfo) = tensors.lookup(scaleName) else {
                throw SafetensorsError.missingTensor(file: job.model.folder, tensor: packedName)
            }
            // pread, not the mapping: see SourceReader.swift (page faults read a small window at a time).
            let packedBytes = try job.sources.bytes(
                packedFile.path, offset: packedFile.header.dataStart + packedInfo.begin, count: packedInfo.byteCount)
            let scaleBytes = try job.sources.bytes(
                scaleFile.path, offset: scaleFile.header.dataStart + scaleInfo.begin, count: scaleInfo.byteCount)
            try packedBytes.withUnsafeBytes { packed in
                try scaleBytes.withUnsafeBytes { scales in
                    var stats = ScaleStatistics()
                    stats.add(bf16: scales)
                    if stats.bad > 0 {
                        throw BundleError.inputHasFindings(
                            model: job.model.folder,
                            findings: [
                                "error: layer \(layer) expert \(expert) \(scaleName): \(stats.nan) NaN, \(stats.infinite) infinite, "
                                    + "\(stats.zero) zero, \(stats.negative) negative scales; run ingot verify"
                            ])
                    }
                    raw.withUnsafeMutableBytes { out in
                        job.layout.tile(
                            packed: packed, scales: scales, rows: p.rows, columns: p.columns,
                            into: UnsafeMutableRawBufferPointer(rebasing: out[p.offset..<(p.offset + p.bytes)]))
                    }
                }
            }
        }
        let stored: [UInt8]
        switch job.options.compression {
        case .none:
            stored = raw
        case .zstd(let level):
            let planes = ExpertBuilder.planes(raw, projections: projections, layout: job.layout)
            stored = try planes.withUnsafeBytes { try Zstd.compress($0, level: Int32(level)) }
        }
        let sha = stored.withUnsafeBytes { SHA256Hex.of($0) }
        return BuiltExtent(stored: stored, bytes: total, sha256: sha)
    }

    /// The `planes` transform of a raw expert extent: per projection, nibbles, scale low bytes, scale high bytes,
    /// concatenated without the alignment padding.
    static func planes(_ raw: [UInt8], projections: [BundleManifest.Projection], layout: TileLayout) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: projections.reduce(0) { $0 + $1.bytes })
        var o = 0
        raw.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for p in projections {
                    layout.planes(
                        UnsafeRawBufferPointer(rebasing: src[p.offset..<(p.offset + p.bytes)]),
                        into: UnsafeMutableRawBufferPointer(rebasing: dst[o..<(o + p.bytes)]))
                    o += p.bytes
                }
            }
        }
        return out
    }

    /// The inverse: a decompressed expert extent's planes → the raw extent with its padding.
    static func unplanes(_ planes: UnsafeRawBufferPointer, projections: [BundleManifest.Projection], layout: TileLayout, rawBytes: Int)
        -> [UInt8]
    {
        var out = [UInt8](repeating: 0, count: rawBytes)
        var o = 0
        out.withUnsafeMutableBytes { dst in
            for p in projections {
                layout.unplanes(
                    UnsafeRawBufferPointer(rebasing: planes[o..<(o + p.bytes)]),
                    into: UnsafeMutableRawBufferPointer(rebasing: dst[p.offset..<(p.offset + p.bytes)]))
                o += p.bytes
            }
        }
        return out
    }
}
