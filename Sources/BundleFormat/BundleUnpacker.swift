public import Checkpoint
public import Foundation
public import TensorIO

/// `ingot unpack` and `ingot inflate`.
public enum BundleUnpacker {
    /// Writes the compressed-tensors checkpoint back: same shard names, tensors and `__metadata__`, every tensor's
    /// bytes identical to the source's; files/ copied; the index last (when the source had several shards).
    ///
    /// - Throws: ``BundleError`` for a bad bundle, ``FileError`` on I/O failure.
    public static func unpack(bundle: String, output: String, checkSpace: Bool = true, progress: ((Int, Int) -> Void)? = nil) throws {
        let reader = try BundleReader(folder: bundle)
        let m = reader.manifest
        let fm = FileManager.default
        try AtomicFile.requireNewOrEmptyFolder(output)
        if checkSpace { try DiskSpace.require(unpackedBytesBound(m), at: output, for: "the unpacked checkpoint") }
        try fm.createDirectory(atPath: output, withIntermediateDirectories: true)
        for f in m.files {
            let source = BundleReader.filesFolder(of: bundle) + "/" + f.name
            try AtomicFile.write(Array(try Data(contentsOf: URL(fileURLWithPath: source))), to: output + "/" + f.name)
        }
        let total = m.dataFiles.reduce(0) { $0 + $1.bytes }
        var done = 0
        // An expert's extent may be decompressed more than once (its tensors need not be adjacent in a shard's
        // order); its bytes count once, so the progress never passes its total.
        var counted = Set<[Int]>()
        var cache: (key: [Int], raw: [UInt8])?
        var shardSpecs: [(name: String, tensors: [TensorSpec])] = []
        for shard in m.sourceShards {
            var specs: [TensorSpec] = []
            for name in shard.tensors { specs.append(try spec(name, reader: reader)) }
            shardSpecs.append((shard.name, specs))
            let writer = try SafetensorsWriter(
                path: (output as NSString).appendingPathComponent(shard.name), tensors: specs,
                metadata: shard.metadata)
            for s in writer.order {
                if let t = reader.tensor(s.name) {
                    try Self.streamReleasing(reader.tensorBytes(t), mapping: reader.mapping(t.file), offset: t.offset) {
                        try writer.write($0)
                    }
                    done += t.storedBytes
                    progress?(done, total)
                    continue
                }
                guard let a = TensorAddress(name: s.name), let layer = a.layer, let expert = a.expert,
                    let e = reader.expert(layer: layer, expert: expert), let p = e.projections.first(where: { $0.component == a.component })
                else {
                    throw BundleError.invalidManifest(file: bundle + "/manifest.json", reason: "no extent holds tensor \(s.name)")
                }
                switch a.part {
                case .weightShape:
                    let values = [p.rows, p.columns]
                    if s.dtype == .i32 {
                        try values.map { Int32($0).littleEndian }.withUnsafeBytes { try writer.write($0) }
                    } else {
                        try values.map { Int64($0).littleEndian }.withUnsafeBytes { try writer.write($0) }
                    }
                default:
                    if cache?.key != [layer, expert] {
                        var raw: [UInt8] = []
                        try reader.expertExtent(e) { raw = Array($0) }
                        cache = ([layer, expert], raw)
                        reader.mapping(e.file)?.release(offset: e.offset, count: e.storedBytes)
                        if counted.insert([layer, expert]).inserted { done += e.storedBytes }
                        progress?(min(done, total), total)
                    }
                    var packed = [UInt8](repeating: 0, count: p.rows * p.columns / 2)
                    var scales = [UInt8](repeating: 0, count: p.rows * p.columns / TileLayout.groupSize * 2)
                    cache?.raw.withUnsafeBytes { raw in
                        packed.withUnsafeMutableBytes { pk in
                            scales.withUnsafeMutableBytes { sc in
                                m.layout.untile(
                                    UnsafeRawBufferPointer(rebasing: raw[p.offset..<(p.offset + p.bytes)]), rows: p.rows,
                                    columns: p.columns, packed: pk, scales: sc)
                            }
                        }
                    }
                    try (a.part == .weightPacked ? packed : scales).withUnsafeBytes { try writer.write($0) }
                }
            }
            try writer.finish()
        }
        if m.sourceShards.count > 1 {
            try AtomicFile.write(
                ShardedWriter.indexText(shards: shardSpecs), to: (output as NSString).appendingPathComponent(ModelLocation.indexFileName))
        }
    }

    /// The safetensors spec of a source tensor, from the manifest.
    static func spec(_ name: String, reader: BundleReader) throws -> TensorSpec {
        if let t = reader.tensor(name) { return TensorSpec(name: name, dtype: t.dtype, shape: t.shape) }
        guard let a = TensorAddress(name: name), let layer = a.layer, let expert = a.expert,
            let e = reader.expert(layer: layer, expert: expert), let p = e.projections.first(where: { $0.component == a.component })
        else { throw BundleError.invalidManifest(file: reader.folder + "/manifest.json", reason: "no extent holds tensor \(name)") }
        switch a.part {
        case .weightPacked: return TensorSpec(name: name, dtype: .i32, shape: [p.rows, p.columns / 8])
        case .weightScale: return TensorSpec(name: name, dtype: .bf16, shape: [p.rows, p.columns / TileLayout.groupSize])
        case .weightShape: return TensorSpec(name: name, dtype: p.shapeDType, shape: [2])
        default:
            throw BundleError.invalidManifest(
                file: reader.folder + "/manifest.json", reason: "tensor \(name) is not stored by layout int4-tiles")
        }
    }

    /// Writes the raw (uncompressed) bundle of a compressed one; the result is byte-identical to a raw repack.
    public static func inflate(bundle: String, output: String, checkSpace: Bool = true, progress: ((Int, Int) -> Void)? = nil) throws {
        let reader = try BundleReader(folder: bundle)
        var m = reader.manifest
        let fm = FileManager.default
        try AtomicFile.requireNewOrEmptyFolder(output)
        if checkSpace { try DiskSpace.require(inflatedBytesBound(m), at: output, for: "the raw bundle") }
        let (source, target) = (BundleReader.filesFolder(of: bundle), BundleReader.filesFolder(of: output))
        try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
        for f in m.files {
            try AtomicFile.write(Array(try Data(contentsOf: URL(fileURLWithPath: source + "/" + f.name))), to: target + "/" + f.name)
        }
        let total = m.dataFiles.reduce(0) { $0 + $1.bytes }
        var done = 0
        var newFiles: [BundleManifest.FileEntry] = []
        for f in m.dataFiles {
            let out = try DataFile(path: output + "/" + f.name + ".partial", keeping: 0, direct: true)
            var position = 0
            var items: [(offset: Int, isExpert: Bool, index: Int)] = []
            for (i, t) in m.tensors.enumerated() where t.file == f.name { items.append((t.offset, false, i)) }
            for (i, e) in m.experts.enumerated() where e.file == f.name { items.append((e.offset, true, i)) }
            items.sort { $0.offset < $1.offset }
            // Experts are decompressed and hashed in parallel, a batch at a time; the file is written in order.
            let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)
            var next = 0
            while next < items.count {
                var batch: [Int] = []
                while next < items.count && batch.count < 2 * threads {
                    batch.append(next)
                    next += 1
                }
                let experts = batch.filter { items[$0].isExpert }.map { m.experts[items[$0].index] }
                let raws = try Self.inflateExtents(experts, reader: reader, threads: threads)
                var r = 0
                for b in batch {
                    let item = items[b]
                    let alignment = item.isExpert ? BundleRepacker.extentAlignment : BundleRepacker.tensorAlignment
                    let start = (position + alignment - 1) / alignment * alignment
                    try out.writeZeros(start - position)
                    if item.isExpert {
                        let e = m.experts[item.index]
                        let (raw, sha) = raws[r]
                        r += 1
                        try raw.withUnsafeBytes { try out.writeAligned($0) }
                        m.experts[item.index].offset = start
                        m.experts[item.index].storedBytes = e.bytes
                        m.experts[item.index].sha256 = sha
                        position = start + e.bytes
                        // Streaming: the source pages are not needed again.
                        reader.mapping(e.file)?.release(offset: e.offset, count: e.storedBytes)
                    } else {
                        let t = m.tensors[item.index]
                        try Self.streamReleasing(reader.tensorBytes(t), mapping: reader.mapping(t.file), offset: t.offset) { piece in
                            try out.write(piece)
                        }
                        m.tensors[item.index].offset = start
                        position = start + t.storedBytes
                    }
                    done = min(total, done + (item.isExpert ? m.experts[item.index].bytes : m.tensors[item.index].bytes))
                    progress?(done, total)
                }
            }
            try out.close()
            try AtomicFile.commit(temporary: output + "/" + f.name + ".partial", to: output + "/" + f.name)
            let extents =
                m.tensors.filter { $0.file == f.name }.map { ($0.offset, $0.storedBytes, $0.sha256) }
                + m.experts.filter { $0.file == f.name }.map { ($0.offset, $0.storedBytes, $0.sha256) }
            newFiles.append(.init(name: f.name, bytes: position, sha256: BundleManifest.extentsDigest(extents, fileBytes: position)))
        }
        m.dataFiles = newFiles
        m.version = BundleManifest.version
        m.compression = .none
        let text = Array((m.json.prettyText + "\n").utf8)
        let sha = text.withUnsafeBytes { SHA256Hex.of($0) }
        try AtomicFile.write("\(sha)  manifest.json\n", to: output + "/manifest.sha256")
        try AtomicFile.write(text, to: output + "/manifest.json")
    }

    /// Raw bytes and SHA-256 of expert extents, decompressed on up to `threads` workers.
    static func inflateExtents(
        _ experts: [BundleManifest.ExpertExtent], reader: BundleReader, threads: Int
    ) throws -> [(raw: [UInt8], sha: String)] {
        guard !experts.isEmpty else { return [] }
        let results = UnsafeTransfer(UnsafeMutableBufferPointer<(raw: [UInt8], sha: String)>.allocate(capacity: experts.count))
        results.value.initialize(repeating: ([], ""))
        defer {
            results.value.deinitialize()
            results.value.deallocate()
        }
        try parallelItems(count: experts.count, workers: experts.count) { _, i in
            try reader.expertExtent(experts[i]) { bytes in results.value[i] = (Array(bytes), SHA256Hex.of(bytes)) }
        }
        return Array(results.value)
    }

    /// Hands `bytes` (a view of `mapping` at `offset`) to `body` in 64 MiB pieces, dropping each piece's pages
    /// afterwards, so a multi-GB tensor (K2's embeddings are 2.3 GB) never becomes resident as a whole.
    static func streamReleasing(
        _ bytes: UnsafeRawBufferPointer, mapping: MappedFile?, offset: Int, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let piece = 64 << 20
        var done = 0
        while done < bytes.count {
            let n = min(piece, bytes.count - done)
            try body(UnsafeRawBufferPointer(rebasing: bytes[done..<(done + n)]))
            mapping?.release(offset: offset + done, count: n)
            done += n
        }
    }

    /// At most the bytes `unpack` writes: every tensor's raw bytes (an expert's packed nibbles and scales are no
    /// larger than its tiles), a header's worth per tensor, and the small files (docs/operations.md, "Space").
    static func unpackedBytesBound(_ m: BundleManifest) -> Int {
        let names = m.sourceShards.reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.utf8.count + 128 } }
        return DiskSpace.smallFilesAllowance + m.files.reduce(0) { $0 + $1.bytes } + names + m.tensors.reduce(0) { $0 + $1.bytes }
            + m.experts.reduce(0) { $0 + $1.bytes }
            + m.sourceShards.count * (8 + 4096)
    }

    /// At most the bytes `inflate` writes: every extent raw and aligned, and the small files.
    static func inflatedBytesBound(_ m: BundleManifest) -> Int {
        let align = BundleRepacker.extentAlignment
        return m.tensors.reduce(DiskSpace.smallFilesAllowance + m.files.reduce(0) { $0 + $1.bytes }) {
            $0 + ($1.bytes + align - 1) / align * align
        }
            + m.experts.reduce(0) { $0 + ($1.bytes + align - 1) / align * align }
    }
}
