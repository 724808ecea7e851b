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

    /// Writes the unit; returns how many extents were taken over from an earlier run's journal. The unit's tail
    /// (waiting for its hashes, the final fsync, its manifest fragment, the rename to NAME.bin) runs on `tail` when
    /// given, so the next unit's reads and writes start while this one's last bytes reach the disk.
    /// The unit's files as a run finds or starts them: the records kept from a killed run's journal, the partial
    /// data file truncated to them, the rewritten journal, and the hasher of the dense extents still to come.
    struct Files {
        var records: [ExtentRecord]
        let out: DataFile
        let journal: DataFile
        let hasher: StreamHasher
        /// Where the next extent may start (the end of the last kept record).
        let end: Int
    }

    /// The worker threads that build expert extents in parallel and hand them over in extent order.
    final class Producers: Sendable {
        let queue: ExtentQueue
        let group = DispatchGroup()
        /// The first error a worker met.
        let error = Mutex<(any Error)?>(nil)

        init(queue: ExtentQueue) { self.queue = queue }
    }

    /// Writes (or resumes) the unit: resume, build experts on worker threads, write extents in order (fsync and
    /// journal on `tail`'s side), then finish — on `tail` when given, so the next unit starts writing at once.
    /// Returns the number of extents taken over from a killed run's journal.
    func run(tail: SerialStage? = nil) throws -> Int {
        var files = try resume()
        let resumed = files.records.count
        let producers = startProducers(from: resumed)
        let syncer = JournalSyncer(writer: self, out: files.out, journal: files.journal, hasher: files.hasher)
        let unsynced: [(Int, ExtentRecord)]
        do {
            unsynced = try writeExtents(&files, from: producers, syncer: syncer)
        } catch {
            producers.queue.fail()
            producers.group.wait()
            _ = try? syncer.drain()
            throw error
        }
        producers.group.wait()
        let finished = files
        let finish = { [self] in try self.finish(finished, unsynced: unsynced, syncer: syncer) }
        if let tail { tail.submit(finish) } else { try finish() }
        return resumed
    }

    /// Stage 1: the records a killed run left in its journal (only those its partial file holds), the partial file
    /// kept up to them and the journal rewritten to exactly them.
    func resume() throws -> Files {
        let fm = FileManager.default
        let partialBytes = ((try? fm.attributesOfItem(atPath: partialPath))?[.size] as? Int) ?? 0
        let records = fm.fileExists(atPath: partialPath) ? Self.readJournal(journalPath, partialBytes: partialBytes) : []
        let end = records.last.map { $0.offset + $0.storedBytes } ?? 0
        let out = try DataFile(path: partialPath, keeping: end, direct: job.options.directWrites)
        try AtomicFile.write(records.enumerated().map { Self.journalLine($0.offset, $0.element) }.joined(), to: journalPath)
        let journal = try DataFile(path: journalPath, keeping: Int.max)
        for k in records.indices { job.progress.add(sourceBytes(of: unit.extents[k])) }
        return Files(records: records, out: out, journal: journal, hasher: StreamHasher(), end: end)
    }

    /// Stage 2: worker threads build the expert extents from `first` on (tiling, compressing, hashing) and put them
    /// in the queue in any order; dense extents are put as empty slots (the writer copies them itself).
    func startProducers(from first: Int) -> Producers {
        let producers = Producers(queue: ExtentQueue(capacity: job.options.threads + 2, start: first))
        let next = Mutex(first)
        let extents = unit.extents
        let job = self.job
        // Producers block on the queue, so they get threads of their own: parked on libdispatch's width-limited
        // global pool they could starve another repack's producers in the same process (seen as a deadlock when
        // tests ran repacks concurrently).
        for _ in 0..<job.options.threads {
            producers.group.enter()
            let thread = Thread {
                defer { producers.group.leave() }
                while true {
                    let k = next.withLock { n -> Int in
                        n += 1
                        return n - 1
                    }
                    guard k < extents.count else { return }
                    // Read-ahead of the extent the next worker round will build.
                    if k + job.options.threads < extents.count, case .expert(let l, let e) = extents[k + job.options.threads] {
                        ExpertBuilder.adviseWillNeed(job: job, layer: l, expert: e)
                    }
                    do {
                        let built: BuiltExtent?
                        if case .expert(let layer, let expert) = extents[k] {
                            built = try ExpertBuilder.build(job: job, layer: layer, expert: expert)
                        } else {
                            built = nil
                        }
                        guard producers.queue.put(k, built) else { return }
                    } catch {
                        producers.error.withLock { $0 = $0 ?? error }
                        producers.queue.fail()
                        return
                    }
                }
            }
            thread.start()
        }
        return producers
    }

    /// Stage 3: takes the extents in order and appends them to the data file, aligned (experts as built, dense
    /// tensors copied here); every `syncBytes` the written records go to the syncer (fsync, then journal lines).
    /// Returns the records not yet handed to the syncer.
    func writeExtents(_ files: inout Files, from producers: Producers, syncer: JournalSyncer) throws -> [(Int, ExtentRecord)] {
        let extents = unit.extents
        var unsynced: [(Int, ExtentRecord)] = []
        var position = files.end
        var bytesSinceSync = 0
        for k in files.records.count..<extents.count {
            guard let item = producers.queue.take(k) else { break }
            let alignment: Int
            if case .expert = extents[k] {
                alignment = BundleRepacker.extentAlignment
            } else {
                alignment = BundleRepacker.tensorAlignment
            }
            let start = (position + alignment - 1) / alignment * alignment
            try files.out.writeZeros(start - position)
            let record: ExtentRecord
            switch extents[k] {
            case .dense(let name):
                record = try writeDense(name, at: start, to: files.out, hasher: files.hasher, extent: k)
            case .expert:
                guard let built = item else { preconditionFailure("expert extent without bytes") }
                try built.stored.withUnsafeBytes { try files.out.writeAligned($0) }
                record = ExtentRecord(offset: start, storedBytes: built.stored.count, bytes: built.bytes, sha256: built.sha256)
                job.progress.add(sourceBytes(of: extents[k]))
            }
            files.records.append(record)
            unsynced.append((k, record))
            position = start + record.storedBytes
            bytesSinceSync += record.storedBytes
            if bytesSinceSync >= job.options.syncBytes {
                // fsync + journal on their own queue: the writer goes on writing while the disk catches up.
                try syncer.schedule(unsynced)
                unsynced.removeAll()
                bytesSinceSync = 0
            }
        }
        if let error = producers.error.withLock({ $0 }) { throw error }
        guard files.records.count == extents.count else {
            throw FileError(path: partialPath, operation: "write (workers stopped)", errno: EIO)
        }
        return unsynced
    }

    /// Stage 4: the last extents' fsync and journal lines, the dense digests filled in, the unit's JSON fragment, and
    /// the data file renamed to its final name (only now does the unit count as complete); the journal goes.
    func finish(_ files: Files, unsynced: [(Int, ExtentRecord)], syncer: JournalSyncer) throws {
        try syncer.schedule(unsynced)
        try syncer.drain()
        var records = files.records
        for (k, digest) in files.hasher.extentDigestsSoFar() {
            let r = records[k]
            records[k] = ExtentRecord(offset: r.offset, storedBytes: r.storedBytes, bytes: r.bytes, sha256: digest)
        }
        try files.out.close()
        try files.journal.close()
        try writeFragment(records, fileBytes: records.last.map { $0.offset + $0.storedBytes } ?? 0)
        try AtomicFile.commit(temporary: partialPath, to: job.path(unit.name + ".bin"))
        try? FileManager.default.removeItem(atPath: journalPath)
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

    /// Copies a dense tensor from the source file in 16 MiB pieces with copy_file_range (one in-kernel copy, as `cp`);
    /// the hashing queue then hashes each piece for the extent's SHA-256 from the source mapping, whose pages the copy has
    /// just brought into the page cache, and release them. Where the kernel cannot copy between the two files, a
    /// reader thread preads ahead of the writer instead.
    func writeDense(_ name: String, at offset: Int, to out: DataFile, hasher: StreamHasher, extent k: Int) throws -> ExtentRecord {
        guard let (file, info) = job.model.tensors.lookup(name) else {
            throw SafetensorsError.missingTensor(file: job.model.folder, tensor: name)
        }
        let count = info.byteCount, base = file.header.dataStart + info.begin
        let source = try job.sources.descriptor(file.path)
        let mapped = file.bytes(of: info)
        var done = 0
        while job.options.kernelCopy && done < count {
            let want = min(16 << 20, count - done)
            let copied = try out.copy(from: source, sourcePath: file.path, offset: base + done, count: want)
            if copied == 0 { break }
            let piece = UnsafeRawBufferPointer(rebasing: mapped[done..<(done + copied)])
            let releaseAt = base + done
            hasher.add(piece, owner: file, mapped: true) { file.mapping.release(offset: releaseAt, count: copied) }
            job.progress.add(copied)
            done += copied
        }
        if done < count {
            let reader = RangeReader(fd: source, path: file.path, offset: base + done, count: count - done)
            defer { reader.stop() }
            while let chunk = try reader.next() {
                let piece = chunk.bytes
                try out.write(piece)
                hasher.add(piece, owner: chunk) { reader.recycle(chunk) }
                job.progress.add(piece.count)
                done += piece.count
            }
        }
        guard done == count else { throw FileError(path: file.path, operation: "read (\(name) ends early)", errno: EIO) }
        hasher.finishExtent(k)
        // The digest is filled in from the hashing queue when the unit finishes.
        return ExtentRecord(offset: offset, storedBytes: count, bytes: count, sha256: String(repeating: "0", count: 64))
    }

    /// The unit's part of the manifest.
    func writeFragment(_ records: [ExtentRecord], fileBytes: Int) throws {
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
            (
                "data_file",
                BundleManifest.dataFileJSON(
                    .init(
                        name: file, bytes: fileBytes,
                        sha256: BundleManifest.extentsDigest(
                            records.map { ($0.offset, $0.storedBytes, $0.sha256) }, fileBytes: fileBytes)))
            ),
            ("tensors", .array(tensors)),
            ("experts", .array(experts)),
            ("expert_order", unit.expertOrder.map { BundleManifest.orderJSON([(unit.layer ?? 0, $0)]) } ?? .array([])),
        ])
        try AtomicFile.write(fragment.prettyText + "\n", to: job.path(unit.name + ".json"))
    }
}

/// Makes extents durable behind the writer: on its own serial queue, fsyncs the data file, then appends the
/// journal lines of the extents written before that fsync began (dense digests from the hashing queue) and fsyncs
/// the journal. A crash at any moment leaves a journal that describes only durable bytes.
final class JournalSyncer: @unchecked Sendable {
    // Sendable: the files are used on the stage only (the data file's fd is also written by the writer thread,
    // which fsync tolerates).
    private let stage = SerialStage(label: "ingot.repack.sync")
    private let writer: UnitWriter
    private let out: DataFile
    private let journal: DataFile
    private let hasher: StreamHasher

    init(writer: UnitWriter, out: DataFile, journal: DataFile, hasher: StreamHasher) {
        self.writer = writer
        self.out = out
        self.journal = journal
        self.hasher = hasher
    }

    /// Queues a sync of `records`; rethrows an earlier sync's failure.
    func schedule(_ records: [(Int, ExtentRecord)]) throws {
        try stage.check()
        guard !records.isEmpty else { return }
        let batch = UnsafeTransfer(records)
        stage.submit { [self] in
            var pending = batch.value
            try writer.sync(out, journal, &pending, digests: hasher.extentDigestsSoFar())
        }
    }

    /// Waits for every queued sync; rethrows a failure.
    func drain() throws { try stage.drain() }
}
