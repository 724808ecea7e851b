public import Checkpoint
public import Foundation
import Quantization
public import TensorIO

/// `ingot repack`: a compressed-tensors INT4 checkpoint → an ingot bundle (docs/bundle-format.md).
///
/// Work is cut into units (globals, then one per layer), each its own data file. A unit is written to
/// `NAME.bin.partial`; worker threads tile (and compress) experts in parallel while one writer thread appends
/// extents in order, hashes the file and journals synced extents; so a killed run resumes where its journal
/// ends and produces the same bytes. `--shard i/n` writes only the units ≡ i−1 (mod n).
public enum BundleRepacker {
    /// What to write.
    public struct Options: Sendable {
        /// Refuse at once when the bundle will not fit (docs/operations.md, "Space").
        public var checkSpace = true
        public var compression: BundleManifest.Compression
        public var tileRows: Int
        public var threads: Int
        /// 1-based slice index and slice count; nil writes the whole bundle.
        public var shard: (index: Int, count: Int)?
        /// A usage profile: {"layers": {"1": [count per expert], …}}.
        public var expertOrderPath: String?
        /// Called with (source bytes done, total) from the writer thread.
        public var progress: (@Sendable (Int, Int) -> Void)?
        /// Journal sync interval (bytes of data between fsyncs).
        public var syncBytes: Int
        /// Copy dense tensors with copy_file_range (in-kernel, as `cp`); false reads and writes them through buffers
        /// (also the automatic fallback where the kernel cannot copy between the two files).
        public var kernelCopy = true
        /// Write expert extents with O_DIRECT (past the page cache; docs/bundle-format.md, "How repack writes"); false
        /// writes them through the page cache (also the automatic fallback where the file system refuses O_DIRECT).
        public var directWrites = true

        /// Creates options.
        public init(
            compression: BundleManifest.Compression = .none, tileRows: Int = 8, threads: Int = 2,
            shard: (index: Int, count: Int)? = nil, expertOrderPath: String? = nil,
            progress: (@Sendable (Int, Int) -> Void)? = nil, syncBytes: Int = 256 << 20
        ) {
            self.compression = compression
            self.tileRows = tileRows
            self.threads = max(1, threads)
            self.shard = shard
            self.expertOrderPath = expertOrderPath
            self.progress = progress
            self.syncBytes = syncBytes
        }
    }

    /// What happened.
    public struct Summary: Sendable {
        /// Units written now, units found complete, extents taken over from a journal.
        public let unitsWritten: Int
        public let unitsSkipped: Int
        public let extentsResumed: Int
        /// True when manifest.json was written (a whole run, not a slice).
        public let finalized: Bool
        public let dataBytes: Int
    }

    static let extentAlignment = 4096
    static let tensorAlignment = 64

    /// Repacks `source` into the folder `output` (created, resumed, or refused when it holds another job).
    ///
    /// - Throws: ``BundleError`` for a source with findings or options that do not match the folder,
    ///   checkpoint errors for unusable input, ``FileError`` for I/O failures.
    public static func run(source: String, output: String, options: Options) throws -> Summary {
        let model = try ModelFolder(path: source)
        let job = try RepackJob(model: model, output: output, options: options)
        let fm = FileManager.default
        if fm.fileExists(atPath: output + "/manifest.json") {
            // Killed after the manifest but before the clean-up: the same command finishes the clean-up.
            guard options.shard == nil, fm.fileExists(atPath: job.path(ModelLocation.repackJobFileName)) else {
                throw BundleError.folderHoldsOtherJob(folder: output, reason: "it already holds a complete bundle")
            }
            try job.claimFolder()
            BundleAssembler.removeJobFiles(folder: output, units: job.units.map(\.name))
            return Summary(unitsWritten: 0, unitsSkipped: job.units.count, extentsResumed: 0, finalized: true, dataBytes: 0)
        }
        if options.checkSpace {
            try DiskSpace.require(try job.remainingBytesBound(), at: output, for: "the bundle")
        }
        try fm.createDirectory(atPath: output, withIntermediateDirectories: true)
        try job.claimFolder()
        var written = 0, skipped = 0, resumed = 0
        let tail = SerialStage(label: "ingot.repack.unit-tail")
        do {
            for unit in job.units where job.isMine(unit) {
                try tail.check()
                if fm.fileExists(atPath: job.path(unit.name + ".bin")) && fm.fileExists(atPath: job.path(unit.name + ".json")) {
                    skipped += 1
                    continue
                }
                resumed += try UnitWriter(job: job, unit: unit).run(tail: tail)
                written += 1
            }
        } catch {
            try? tail.drain()
            throw error
        }
        try tail.drain()
        var finalized = false
        if options.shard == nil {
            try BundleAssembler.finalize(folder: output, units: job.units.map(\.name))
            finalized = true
        }
        return Summary(
            unitsWritten: written, unitsSkipped: skipped, extentsResumed: resumed, finalized: finalized,
            dataBytes: job.progress.done)
    }
}

/// One data file's worth of work.
struct RepackUnit: Sendable {
    /// "globals" or "layer-007".
    let name: String
    /// 0 for globals, layer + 1 for layers (slices take index ≡ i−1 mod n).
    let index: Int
    let layer: Int?
    /// Dense tensors (sorted by name), then experts in order.
    let extents: [ExtentPlan]
    let expertOrder: [Int]?
}

/// What an extent holds.
enum ExtentPlan: Sendable {
    case dense(name: String)
    case expert(layer: Int, expert: Int)
}

/// Everything the units of one repack share: the model, options, plan and identity.
final class RepackJob: @unchecked Sendable {
    // Sendable: immutable after init except `progress`, which is thread-safe.
    let model: ModelFolder
    let output: String
    let options: BundleRepacker.Options
    let layout: TileLayout
    let units: [RepackUnit]
    /// Everything that must agree between a resumed run, the slices of a merge, and the first run.
    let identity: JSONValue
    let progress: ByteProgress
    /// The source shards, read with pread (SourceReader.swift).
    let sources = SourceFiles()

    init(model: ModelFolder, output: String, options: BundleRepacker.Options) throws {
        self.model = model
        self.output = output
        self.options = options
        layout = TileLayout(tileRows: options.tileRows)
        try Self.checkSource(model)
        let order = try Self.expertOrders(model, path: options.expertOrderPath)
        var units: [RepackUnit] = []
        var byLayer: [Int?: [String]] = [:]
        for file in model.tensors.files {
            for t in file.tensors {
                let a = TensorAddress(name: t.name)
                if a?.component.isRoutedExpert == true { continue }
                byLayer[a?.layer, default: []].append(t.name)
            }
        }
        units.append(
            RepackUnit(
                name: "globals", index: 0, layer: nil,
                extents: (byLayer[nil] ?? []).sorted().map { .dense(name: $0) }, expertOrder: nil))
        let c = model.config
        for layer in 0..<c.numHiddenLayers {
            var extents = (byLayer[layer] ?? []).sorted().map { ExtentPlan.dense(name: $0) }
            var layerOrder: [Int]?
            if c.isMoELayer(layer) {
                let o = order[layer] ?? Array(0..<c.nRoutedExperts)
                extents += o.map { ExtentPlan.expert(layer: layer, expert: $0) }
                layerOrder = o
            }
            units.append(
                RepackUnit(
                    name: "layer-" + Self.pad(layer, 3), index: layer + 1, layer: layer, extents: extents,
                    expertOrder: layerOrder))
        }
        self.units = units
        identity = try Self.identity(model: model, options: options, order: order)
        progress = ByteProgress(total: model.tensors.dataBytes, callback: options.progress)
    }

    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    func path(_ name: String) -> String { (output as NSString).appendingPathComponent(name) }

    /// At most the bytes this run still writes: every unit of this run not yet complete, each extent raw or at
    /// zstd's worst case and aligned, less what a killed run's partial file already holds; plus the small files
    /// (docs/operations.md, "Space").
    func remainingBytesBound() throws -> Int {
        let fm = FileManager.default
        var total = DiskSpace.smallFilesAllowance + DiskSpace.companionBytes(in: model.tensors.location.folder)
        for unit in units where isMine(unit) {
            if fm.fileExists(atPath: path(unit.name + ".bin")) && fm.fileExists(atPath: path(unit.name + ".json")) { continue }
            var bytes = 0
            for extent in unit.extents {
                let raw: Int
                switch extent {
                case .dense(let name): raw = model.tensors.info(name)?.byteCount ?? 0
                case .expert(let layer, let expert):
                    raw = try ExpertBuilder.projections(job: self, layer: layer, expert: expert).last.map { $0.offset + $0.bytes } ?? 0
                }
                let stored = options.compression == .none ? raw : Zstd.compressBound(raw)
                bytes += (stored + BundleRepacker.extentAlignment - 1) / BundleRepacker.extentAlignment * BundleRepacker.extentAlignment
            }
            let partial = (try? fm.attributesOfItem(atPath: path(unit.name + ".bin.partial"))[.size] as? Int) ?? 0
            total += max(0, bytes - partial)
        }
        return total
    }

    func isMine(_ unit: RepackUnit) -> Bool {
        guard let shard = options.shard else { return true }
        return unit.index % shard.count == shard.index - 1
    }

    /// The bundle stores K2-Thinking's form only; structure must pass verify's checks before any data is read.
    static func checkSource(_ model: ModelFolder) throws {
        guard case .int4PackQuantized(let group) = model.kind, group == TileLayout.groupSize else {
            throw BundleError.unsupportedSource(
                model: model.folder,
                reason: "the bundle stores compressed-tensors INT4 group-32 experts; "
                    + "this checkpoint is \(model.kind)")
        }
        if case .compressedTensors(let ct)? = model.config.quantization, ct.groups.contains(where: { $0.weights?.symmetric == false }) {
            throw BundleError.unsupportedSource(
                model: model.folder, reason: "asymmetric INT4 (zero points) is not stored by layout int4-tiles")
        }
        let findings = (Verification.structureFindings(model) + Verification.weightShapeFindings(model)).filter { $0.severity == .error }
        if !findings.isEmpty { throw BundleError.inputHasFindings(model: model.folder, findings: findings.map(\.line)) }
    }

    /// Per MoE layer, experts hottest first from a usage profile (ties by index), or nothing (identity).
    static func expertOrders(_ model: ModelFolder, path: String?) throws -> [Int: [Int]] {
        guard let path else { return [:] }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw CheckpointError.missingFile(path: path) }
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch { throw BundleError.invalidExpertOrder(file: path, reason: "not JSON: \(error)") }
        guard let layers = json["layers"]?.members else { throw BundleError.invalidExpertOrder(file: path, reason: "no 'layers' object") }
        var out: [Int: [Int]] = [:]
        for (key, value) in layers {
            guard let layer = Int(key), model.config.isMoELayer(layer) else {
                throw BundleError.invalidExpertOrder(file: path, reason: "'\(key)' is not a MoE layer of this model")
            }
            guard let counts = value.elements?.compactMap(\.doubleValue), counts.count == model.config.nRoutedExperts,
                counts.allSatisfy({ $0 >= 0 && $0.isFinite })
            else {
                throw BundleError.invalidExpertOrder(
                    file: path, reason: "layer \(layer) needs \(model.config.nRoutedExperts) non-negative counts")
            }
            out[layer] = counts.indices.sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1 }
        }
        return out
    }

    /// Source identity (config, index and every shard header) and the options that shape the bytes.
    static func identity(model: ModelFolder, options: BundleRepacker.Options, order: [Int: [Int]]) throws -> JSONValue {
        var h = SHA256Stream()
        for name in ["config.json", ModelLocation.indexFileName] {
            if let data = FileManager.default.contents(atPath: model.tensors.location.file(name)) {
                data.withUnsafeBytes { h.update($0) }
            }
        }
        for file in model.tensors.files {
            h.update(UnsafeRawBufferPointer(rebasing: file.mapping.bytes[0..<file.header.dataStart]))
        }
        return .object([
            ("source", .string(h.finalize())),
            ("tile_rows", .int(options.tileRows)),
            ("compression", BundleManifest.compressionJSON(options.compression)),
            ("expert_order", BundleManifest.orderJSON(order.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })),
            ("slices", .int(options.shard?.count ?? 1)),
        ])
    }

    /// Records the job in repack.json, or checks that a folder being resumed holds the same job; then (re)writes
    /// the source record. repack.json comes first, so a run killed at any later moment is recognized as this job.
    /// Temporaries of killed runs (`NAME.partial-PID`) are removed; unit partials (`NAME.bin.partial`) are kept.
    func claimFolder() throws {
        var record = identity.members ?? []
        record.append(("slice", .int(options.shard?.index ?? 1)))
        let text = JSONValue.object(record).prettyText + "\n"
        let file = path(ModelLocation.repackJobFileName)
        Self.removeStaleTemporaries(output)
        Self.removeStaleTemporaries(path(BundleReader.filesFolderName))
        if let existing = try? String(contentsOfFile: file, encoding: .utf8) {
            guard existing == text else {
                throw BundleError.folderHoldsOtherJob(folder: output, reason: "it holds a repack of another source or with other options")
            }
        } else {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
            guard entries.isEmpty else {
                throw BundleError.folderHoldsOtherJob(folder: output, reason: "it is not empty and holds no repack.json")
            }
            try AtomicFile.write(text, to: file)
        }
        try BundleAssembler.writeSourceRecord(model: model, options: options, folder: output)
    }

    /// Removes `NAME.partial-PID` files (AtomicFile's temporaries) that a killed process left behind.
    static func removeStaleTemporaries(_ folder: String) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] {
            guard let range = name.range(of: ".partial-", options: .backwards),
                !name[range.upperBound...].isEmpty, name[range.upperBound...].allSatisfy(\.isNumber)
            else { continue }
            try? fm.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
        }
    }
}
