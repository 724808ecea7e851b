import Checkpoint
import Dispatch
import Foundation
import Quantization
import Synchronization
import TensorIO

/// One finished extent, as the writer records it.
struct ExtentRecord: Sendable {
    let offset: Int
    let storedBytes: Int
    let bytes: Int
    let sha256: String
}

/// An expert extent built by a worker: stored bytes (raw tiles, or a zstd frame of their planes).
struct BuiltExtent: Sendable {
    let stored: [UInt8]
    let bytes: Int
    let sha256: String
}

/// Hashes the data file's byte stream on its own serial queue, in write order, so SHA-256 runs while the writer
/// thread is in write(); at most `limit` pieces wait, which bounds the memory they hold.
final class StreamHasher: @unchecked Sendable {
    // Sendable: `file` and `extent` are touched only on `queue`.
    private let queue = DispatchQueue(label: "ingot.repack.hash")
    private let slots: DispatchSemaphore
    private var file = SHA256Stream()
    private var extent = SHA256Stream()
    private var extentDigests: [Int: String] = [:]

    init(limit: Int = 3) { slots = DispatchSemaphore(value: limit) }

    /// Adds bytes (kept alive by `owner` until hashed) to the file hash, and to extent `k`'s hash when given; then
    /// runs `after` (releasing source pages).
    func add(_ bytes: UnsafeRawBufferPointer, owner: (any AnyObject & Sendable)?, extent k: Int?, after: (@Sendable () -> Void)? = nil) {
        slots.wait()
        let piece = UnsafeTransfer(bytes)
        queue.async { [self] in
            withExtendedLifetime(owner) {
                file.update(piece.value)
                if k != nil { extent.update(piece.value) }
            }
            after?()
            slots.signal()
        }
    }

    /// Adds zero padding to the file hash.
    func addZeros(_ count: Int) {
        guard count > 0 else { return }
        queue.async { [self] in file.updateZeros(count) }
    }

    /// Closes extent `k`'s hash.
    func finishExtent(_ k: Int) {
        queue.async { [self] in
            extentDigests[k] = extent.finalize()
            extent = SHA256Stream()
        }
    }

    /// Waits for everything queued; returns the file digest and the extent digests.
    func finish() -> (file: String, extents: [Int: String]) {
        queue.sync { (file.finalize(), extentDigests) }
    }

    /// The extent digests finished so far (waits for the queue).
    func extentDigestsSoFar() -> [Int: String] { queue.sync { extentDigests } }

    /// Starts the file hash from a resumed prefix.
    func resume(from prefix: SHA256Stream) { queue.sync { file = prefix } }
}

/// A byte array shared with the hashing queue.
final class ByteBox: @unchecked Sendable {
    // Sendable: never mutated after init.
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// Asserts `Sendable` for a pointer whose memory outlives the asynchronous use (kept alive by an owner).
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Writes (or resumes) one unit's data file: `NAME.bin.partial` + `NAME.journal` → `NAME.bin` + `NAME.json`.
final class UnitWriter {
    let job: RepackJob
    let unit: RepackUnit
    let partialPath: String
    let journalPath: String

    init(job: RepackJob, unit: RepackUnit) {
        self.job = job
        self.unit = unit
        partialPath = job.path(unit.name + ".bin.partial")
        journalPath = job.path(unit.name + ".journal")
    }

    /// Journal line: "INDEX OFFSET STORED BYTES SHA256". Only complete, consecutive lines whose extents fit the
    /// partial file count; anything after the first bad line is dropped (a torn last write).
    static func readJournal(_ path: String, partialBytes: Int) -> [ExtentRecord] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        var records: [ExtentRecord] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let f = line.split(separator: " ")
            guard f.count == 5, Int(f[0]) == records.count, let o = Int(f[1]), let s = Int(f[2]), let b = Int(f[3]), f[4].count == 64,
                o + s <= partialBytes, o >= (records.last.map { $0.offset + $0.storedBytes } ?? 0)
            else { break }
            records.append(ExtentRecord(offset: o, storedBytes: s, bytes: b, sha256: String(f[4])))
        }
        return records
    }

    /// Writes the unit; returns how many extents were taken over from an earlier run's journal.
    func run() throws -> Int {
        let fm = FileManager.default
        let partialBytes = ((try? fm.attributesOfItem(atPath: partialPath))?[.size] as? Int) ?? 0
        var records = fm.fileExists(atPath: partialPath) ? Self.readJournal(journalPath, partialBytes: partialBytes) : []
        let resumed = records.count
        let end = records.last.map { $0.offset + $0.storedBytes } ?? 0
        let out = try DataFile(path: partialPath, keeping: end)
        // The journal is rewritten to exactly the records kept.
        try AtomicFile.write(records.enumerated().map { Self.journalLine($0.offset, $0.element) }.joined(), to: journalPath)
        let journal = try DataFile(path: journalPath, keeping: Int.max)
        var prefixHash = SHA256Stream()
        try out.hashPrefix(end, into: &prefixHash)
        let hasher = StreamHasher()
        hasher.resume(from: prefixHash)
        for k in records.indices { job.progress.add(sourceBytes(of: unit.extents[k])) }

        let queue = ExtentQueue(capacity: job.options.threads + 2, start: records.count)
        let producerError = Mutex<(any Error)?>(nil)
        let next = Mutex(records.count)
        let group = DispatchGroup()
        let extents = unit.extents
        let job = self.job
        // Producers block on the queue, so they get threads of their own: parked on libdispatch's width-limited
        // global pool they could starve another repack's producers in the same process (seen as a deadlock when
        // tests ran repacks concurrently).
        for _ in 0..<job.options.threads {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                while true {
                    let k = next.withLock { n -> Int in
                        n += 1
                        return n - 1
                    }
                    guard k < extents.count else { return }
                    do {
                        let built: BuiltExtent?
                        if case .expert(let layer, let expert) = extents[k] {
                            built = try ExpertBuilder.build(job: job, layer: layer, expert: expert)
                        } else {
                            built = nil
                        }
                        guard queue.put(k, built) else { return }
                    } catch {
                        producerError.withLock { $0 = $0 ?? error }
                        queue.fail()
                        return
                    }
                }
            }
            thread.start()
        }
        do {
            var position = end
            var unsynced: [(Int, ExtentRecord)] = []
            var bytesSinceSync = 0
            for k in records.count..<extents.count {
                guard let item = queue.take(k) else { break }
                let alignment: Int
                if case .expert = extents[k] {
                    alignment = BundleRepacker.extentAlignment
                } else {
                    alignment = BundleRepacker.tensorAlignment
                }
                let start = (position + alignment - 1) / alignment * alignment
                try out.writeZeros(start - position)
                hasher.addZeros(start - position)
                let record: ExtentRecord
                switch extents[k] {
                case .dense(let name):
                    record = try writeDense(name, at: start, to: out, hasher: hasher, extent: k)
                case .expert:
                    guard let built = item else { preconditionFailure("expert extent without bytes") }
                    let box = ByteBox(built.stored)
                    try box.bytes.withUnsafeBytes { b in
                        try out.write(b)
                        hasher.add(b, owner: box, extent: nil)
                    }
                    record = ExtentRecord(offset: start, storedBytes: built.stored.count, bytes: built.bytes, sha256: built.sha256)
                    job.progress.add(sourceBytes(of: extents[k]))
                }
                records.append(record)
                unsynced.append((k, record))
                position = start + record.storedBytes
                bytesSinceSync += record.storedBytes
                if bytesSinceSync >= job.options.syncBytes {
                    try sync(out, journal, &unsynced, digests: hasher.extentDigestsSoFar())
                    bytesSinceSync = 0
                }
            }
            if let error = producerError.withLock({ $0 }) { throw error }
            guard records.count == extents.count else {
                throw FileError(path: partialPath, operation: "write (workers stopped)", errno: EIO)
            }
            try sync(out, journal, &unsynced, digests: hasher.extentDigestsSoFar())
        } catch {
            queue.fail()
            group.wait()
            throw error
        }
        group.wait()
        let (fileSHA, denseDigests) = hasher.finish()
        for (k, digest) in denseDigests {
            let r = records[k]
            records[k] = ExtentRecord(offset: r.offset, storedBytes: r.storedBytes, bytes: r.bytes, sha256: digest)
        }
        try out.close()
        try journal.close()
        try writeFragment(records, fileBytes: records.last.map { $0.offset + $0.storedBytes } ?? 0, fileSHA: fileSHA)
        try AtomicFile.commit(temporary: partialPath, to: job.path(unit.name + ".bin"))
        try? fm.removeItem(atPath: journalPath)
        return resumed
    }

    static func journalLine(_ k: Int, _ r: ExtentRecord) -> String {
        "\(k) \(r.offset) \(r.storedBytes) \(r.bytes) \(r.sha256)\n"
    }

    /// Data first, then the journal lines that describe it (dense extents' digests taken from the hashing queue).
    func sync(_ out: DataFile, _ journal: DataFile, _ unsynced: inout [(Int, ExtentRecord)], digests: [Int: String]) throws {
        guard !unsynced.isEmpty else { return }
        unsynced = unsynced.map { k, r in
            (k, digests[k].map { ExtentRecord(offset: r.offset, storedBytes: r.storedBytes, bytes: r.bytes, sha256: $0) } ?? r)
        }
        try out.sync()
        let text = unsynced.map { Self.journalLine($0.0, $0.1) }.joined()
        try Array(text.utf8).withUnsafeBytes { try journal.write($0) }
        try journal.sync()
        unsynced.removeAll()
    }

    /// Source bytes an extent stands for (for progress).
    func sourceBytes(of plan: ExtentPlan) -> Int {
        switch plan {
        case .dense(let name): return job.model.tensors.info(name)?.byteCount ?? 0
        case .expert(let layer, let expert):
            return ExpertBuilder.sourceTensors(layer: layer, expert: expert).reduce(0) { $0 + (job.model.tensors.info($1)?.byteCount ?? 0) }
        }
    }

    /// Streams a dense tensor from the source mapping in 64 MiB pieces; the hashing queue hashes each piece (file
    /// and extent) and then releases its source pages.
    func writeDense(_ name: String, at offset: Int, to out: DataFile, hasher: StreamHasher, extent k: Int) throws -> ExtentRecord {
        guard let (file, info) = job.model.tensors.lookup(name) else {
            throw SafetensorsError.missingTensor(file: job.model.folder, tensor: name)
        }
        let bytes = file.bytes(of: info)
        var done = 0
        repeat {
            let end = min(bytes.count, done + (64 << 20))
            let piece = UnsafeRawBufferPointer(rebasing: bytes[done..<end])
            try out.write(piece)
            let releaseAt = file.header.dataStart + info.begin + done, count = end - done
            hasher.add(piece, owner: file, extent: k) { file.mapping.release(offset: releaseAt, count: count) }
            job.progress.add(end - done)
            done = end
        } while done < bytes.count
        hasher.finishExtent(k)
        // The digest is filled in from the hashing queue when the unit finishes.
        return ExtentRecord(offset: offset, storedBytes: bytes.count, bytes: bytes.count, sha256: String(repeating: "0", count: 64))
    }

    /// The unit's part of the manifest.
    func writeFragment(_ records: [ExtentRecord], fileBytes: Int, fileSHA: String) throws {
        var tensors: [JSONValue] = []
        var experts: [JSONValue] = []
        let file = unit.name + ".bin"
        for (plan, r) in zip(unit.extents, records) {
            switch plan {
            case .dense(let name):
                guard let info = job.model.tensors.info(name) else { continue }
                tensors.append(
                    BundleManifest.tensorJSON(
                        .init(
                            name: name, dtype: info.dtype, shape: info.shape, file: file, offset: r.offset,
                            storedBytes: r.storedBytes, bytes: r.bytes, sha256: r.sha256)))
            case .expert(let layer, let expert):
                let projections = try ExpertBuilder.projections(job: job, layer: layer, expert: expert)
                experts.append(
                    BundleManifest.expertJSON(
                        .init(
                            layer: layer, expert: expert, file: file, offset: r.offset,
                            storedBytes: r.storedBytes, bytes: r.bytes, sha256: r.sha256,
                            projections: projections)))
            }
        }
        let fragment = JSONValue.object([
            ("unit", .string(unit.name)),
            ("data_file", BundleManifest.fileJSON(.init(name: file, bytes: fileBytes, sha256: fileSHA))),
            ("tensors", .array(tensors)),
            ("experts", .array(experts)),
            ("expert_order", unit.expertOrder.map { BundleManifest.orderJSON([(unit.layer ?? 0, $0)]) } ?? .array([])),
        ])
        try AtomicFile.write(fragment.prettyText + "\n", to: job.path(unit.name + ".json"))
    }
}

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
            let packed = packedFile.bytes(of: packedInfo), scales = scaleFile.bytes(of: scaleInfo)
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
            packedFile.mapping.release(offset: packedFile.header.dataStart + packedInfo.begin, count: packedInfo.byteCount)
            scaleFile.mapping.release(offset: scaleFile.header.dataStart + scaleInfo.begin, count: scaleInfo.byteCount)
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

/// A bounded, ordered hand-off from workers (any order) to the writer (index order).
final class ExtentQueue: @unchecked Sendable {
    // Sendable: every access holds `condition`.
    private let condition = NSCondition()
    private var items: [Int: BuiltExtent?] = [:]
    private var next = 0
    private var failed = false
    private let capacity: Int

    /// - Parameter start: the first index the writer takes (a resumed unit starts past its journaled extents).
    init(capacity: Int, start: Int) {
        self.capacity = capacity
        next = start
    }

    /// Blocks while `k` is `capacity` or more ahead of the writer; false once the queue has failed.
    func put(_ k: Int, _ item: BuiltExtent?) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while k >= next + capacity && !failed { condition.wait() }
        if failed { return false }
        items[k] = .some(item)
        condition.broadcast()
        return true
    }

    /// Blocks until item `k` is there; nil (and outer nil) when the queue has failed.
    func take(_ k: Int) -> BuiltExtent?? {
        condition.lock()
        defer { condition.unlock() }
        while items[k] == nil && !failed { condition.wait() }
        guard let item = items.removeValue(forKey: k) else { return nil }
        next = k + 1
        condition.broadcast()
        return .some(item)
    }

    func fail() {
        condition.lock()
        failed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// A data file opened for appending after a kept prefix.
final class DataFile {
    let path: String
    private let fd: Int32
    private var closed = false

    /// Opens (creating) `path` and truncates it to `keeping` bytes (Int.max: keep everything, append).
    init(path: String, keeping: Int) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(path: path, operation: "open") }
        if keeping != Int.max {
            guard ftruncate(fd, off_t(keeping)) == 0 else { throw FileError(path: path, operation: "truncate") }
        }
        guard lseek(fd, 0, SEEK_END) >= 0 else { throw FileError(path: path, operation: "seek") }
    }

    deinit { if !closed { Foundation.close(fd) } }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try BufferedOutput.writeAll(fd: fd, bytes, path: path)
    }

    func writeZeros(_ count: Int) throws {
        guard count > 0 else { return }
        let zeros = [UInt8](repeating: 0, count: count)
        try zeros.withUnsafeBytes { try write($0) }
    }

    func sync() throws {
        guard fsync(fd) == 0 else { throw FileError(path: path, operation: "fsync") }
    }

    /// Hashes the first `count` bytes (a resumed file's kept prefix).
    func hashPrefix(_ count: Int, into hash: inout SHA256Stream) throws {
        var buffer = [UInt8](repeating: 0, count: 8 << 20)
        var offset = 0
        while offset < count {
            let want = min(buffer.count, count - offset)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
            guard n > 0 else { throw FileError(path: path, operation: "read") }
            buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += n
        }
    }

    func close() throws {
        try sync()
        closed = true
        guard Foundation.close(fd) == 0 else { throw FileError(path: path, operation: "close") }
    }
}
