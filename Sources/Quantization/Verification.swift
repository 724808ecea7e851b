public import Checkpoint
public import Foundation
public import TensorIO

/// `ingot verify`: validates everything first (headers, index, config), then checks structure against
/// config.json, INT4 numerics per expert projection, dense tensors and, when given, file checksums.
///
/// Data is read once, file by file, in 64 MiB pieces handed to `threads` workers in file order, so reads
/// stay sequential; memory is independent of model size (statistics only).
public enum Verification {
    /// What to do.
    public struct Options: Sendable {
        public var threads: Int
        /// What to check the files' digests against (docs/model-store.md, "Hugging Face cache").
        public var checksums: ChecksumSource
        /// Called with (bytes done, bytes total) from worker threads, serialized.
        public var progress: (@Sendable (Int, Int) -> Void)?

        /// Creates options.
        public init(
            threads: Int = ProcessInfo.processInfo.activeProcessorCount, checksums: ChecksumSource = .hubWhenCached,
            progress: (@Sendable (Int, Int) -> Void)? = nil
        ) {
            self.threads = max(1, threads)
            self.checksums = checksums
            self.progress = progress
        }
    }

    /// Where expected file digests come from.
    public enum ChecksumSource: Sendable, Equatable {
        /// None: file digests are not checked.
        case none
        /// A SHA256SUMS-style list.
        case list(String)
        /// The digests a Hugging Face cache records in its blob names; an error when the model is not in a cache.
        case hub
        /// ``hub`` when the model is a cache snapshot, else ``none`` (the default).
        case hubWhenCached
    }

    static let chunkBytes = 64 << 20

    /// Verifies the checkpoint at `path`.
    ///
    /// - Throws: ``SafetensorsError``, ``CheckpointError`` or ``FileError`` when the input is unusable
    ///   (nothing is read past the headers in that case).
    public static func run(path: String, options: Options = Options()) throws -> VerifyReport {
        let started = Date()
        let model = try ModelFolder(path: path)
        let checksums: ChecksumList?
        switch options.checksums {
        case .none: checksums = nil
        case .list(let path): checksums = try ChecksumList(path: path)
        case .hubWhenCached: checksums = ChecksumList.hub(model.tensors.location)
        case .hub:
            guard let list = ChecksumList.hub(model.tensors.location) else {
                throw CheckpointError.invalidField(
                    file: model.folder, field: "--checksums hub", found: "a folder outside a Hugging Face cache",
                    expected: "a cache repository (models--org--name) or one of its snapshots, whose files link to blobs/")
            }
            checksums = list
        }
        var findings = structureFindings(model)
        findings += weightShapeFindings(model)

        let plan = WorkPlan(model)
        let total =
            plan.totalBytes
            + (checksums.map { list in
                list.entries.reduce(0) { sum, e in
                    sum + ((try? FileManager.default.attributesOfItem(atPath: model.tensors.location.file(e.name))[.size] as? Int) ?? 0)
                }
            } ?? 0)
        let progress = ByteProgress(total: total, callback: options.progress)
        let results = plan.execute(threads: options.threads, progress: progress)
        var (projections, layers, numeric) = aggregate(model: model, plan: plan, results: results)
        findings += numeric
        findings += duplicateFindings(model: model, projections: &projections)
        var checked: [(String, String, String)] = []
        if let checksums {
            let (rows, found) = try verifyChecksums(checksums, model: model, threads: options.threads, progress: progress)
            checked = rows
            findings += found
        }
        findings.sort {
            ($0.severity, $0.layer ?? -1, $0.expert ?? -1, $0.subject) < ($1.severity, $1.layer ?? -1, $1.expert ?? -1, $1.subject)
        }
        return VerifyReport(
            model: model.folder, kind: model.kind, findings: findings, projections: projections, layers: layers,
            checksums: checked, checksumSource: checksums?.source, bytesRead: progress.done, seconds: Date().timeIntervalSince(started))
    }

    // MARK: structure

    /// Structure findings (inventory vs config.json, declared scheme vs tensors, router bias dtype, shard files the
    /// index does not name), read from headers only.
    public static func structureFindings(_ model: ModelFolder) -> [Finding] {
        var out: [Finding] = []
        if case .unknown(let reason) = model.kind {
            out.append(Finding(.error, subject: "config.json", "declared quantization and tensors disagree: \(reason)"))
        }
        for name in model.tensors.unindexedFiles {
            out.append(
                Finding(.warning, subject: name, "in the folder but model.safetensors.index.json never names it: not read (a stale shard?)")
            )
        }
        for issue in InventoryCheck.compare(model) {
            let a = issue.address
            var message = issue.message.dropFirst(issue.name.count + 2).description
            if case .shape(let address, let found, let expected) = issue, address.part == .weightScale, found.count == 2,
                expected.count == 2,
                found[1] > 0, case .compressedTensors(let ct)? = model.config.quantization,
                let declared = ct.weightArgs(module: address.moduleName)?.groupSize
            {
                let columns = expected[1] * declared
                message += "; quantization_config declares group_size \(declared) but the scales imply group size \(columns / found[1])"
            }
            if case .unexpected(_, let address) = issue, address?.part == .weightZeroPoint || address?.part == .weightGIdx {
                message += "; the declared scheme is symmetric with no activation ordering"
            }
            out.append(Finding(.error, layer: a?.layer, expert: a?.expert, subject: issue.name, message))
        }
        for layer in 0..<model.config.numHiddenLayers where model.config.isMoELayer(layer) && model.config.topkMethod == "noaux_tc" {
            let bias = TensorAddress(layer: layer, component: .router, part: .correctionBias)
            if let info = model.tensors.info(bias.name), info.dtype == .bf16 {
                out.append(
                    Finding(.note, layer: layer, subject: bias.name, "router correction bias is BF16 (F32 expected); computed in F32"))
            }
        }
        return out
    }

    /// `weight_shape` must hold the real [rows, columns] of its packed sibling.
    public static func weightShapeFindings(_ model: ModelFolder) -> [Finding] {
        var logical: [String: [Int]] = [:]
        for layer in [nil] + (0..<model.config.numHiddenLayers).map(Optional.some) {
            for (address, shape) in TensorInventory.modules(model.config, layer: layer) { logical[address.moduleName] = shape }
        }
        var out: [Finding] = []
        for file in model.tensors.files {
            for t in file.tensors {
                guard let a = TensorAddress(name: t.name), a.part == .weightShape, let expected = logical[a.moduleName] else { continue }
                guard t.dtype == .i32 || t.dtype == .i64, let values = try? file.integers(named: t.name) else { continue }
                if values != expected {
                    out.append(
                        Finding(
                            .error, layer: a.layer, expert: a.expert, subject: t.name,
                            "holds \(values), but the module is \(expected) (config.json)"))
                }
            }
        }
        return out
    }

    // MARK: numerics

    static func aggregate(model: ModelFolder, plan: WorkPlan, results: [ItemResult]) -> ([ProjectionStats], [LayerSummary], [Finding]) {
        var stats: [String: ProjectionStats] = [:]
        var order: [String] = []
        var layers: [Int: LayerSummary] = [:]
        var findings: [Finding] = []
        var denseNaN: [String: (Int, Int)] = [:]
        for (i, item) in plan.items.enumerated() {
            let r = results[i]
            let address = TensorAddress(name: item.tensor.name)
            switch item.role {
            case .packed, .scale:
                guard let address else { continue }
                let key = address.moduleName
                var p =
                    stats[key]
                    ?? ProjectionStats(
                        address: TensorAddress(
                            layer: address.layer, component: address.component,
                            expert: address.expert, part: .weight))
                if stats[key] == nil { order.append(key) }
                if item.role == .packed {
                    for v in 0..<16 { p.histogram[v] += r.histogram[v] }
                    p.packedHash = SplitMix64.mix(p.packedHash ^ r.hash)
                } else {
                    p.scales.merge(r.scales)
                    p.scaleHash = SplitMix64.mix(p.scaleHash ^ r.hash)
                }
                stats[key] = p
            case .dense:
                if r.nan + r.infinite > 0 {
                    let previous = denseNaN[item.tensor.name] ?? (0, 0)
                    denseNaN[item.tensor.name] = (previous.0 + r.nan, previous.1 + r.infinite)
                }
            }
        }
        for (name, (nan, inf)) in denseNaN.sorted(by: { $0.key < $1.key }) {
            let a = TensorAddress(name: name)
            findings.append(Finding(.error, layer: a?.layer, expert: a?.expert, subject: name, "\(nan) NaN and \(inf) infinite values"))
            if let l = a?.layer { layers[l, default: LayerSummary(layer: l)].nonFiniteDense += nan + inf }
        }
        var minus8 = 0, minus8Projections = 0, inexact = 0, scaleCount = 0
        let projections = order.compactMap { stats[$0] }
        for p in projections {
            let l = p.address.layer ?? -1
            layers[l, default: LayerSummary(layer: l)].projections += 1
            layers[l]?.scales.merge(p.scales)
            for v in 0..<16 { layers[l]?.histogram[v] += p.histogram[v] }
            let scaleName = TensorAddress(
                layer: p.address.layer, component: p.address.component, expert: p.address.expert, part: .weightScale
            ).name
            let s = p.scales
            if s.bad > 0 {
                var parts: [String] = []
                if s.nan > 0 { parts.append("\(s.nan) NaN") }
                if s.infinite > 0 { parts.append("\(s.infinite) infinite") }
                if s.zero > 0 { parts.append("\(s.zero) zero") }
                if s.negative > 0 { parts.append("\(s.negative) negative") }
                findings.append(
                    Finding(
                        .error, layer: p.address.layer, expert: p.address.expert, subject: scaleName,
                        "\(parts.joined(separator: ", ")) scales of \(s.count); scales must be finite and > 0"))
            }
            if p.allZero {
                findings.append(
                    Finding(
                        .warning, layer: p.address.layer, expert: p.address.expert, subject: p.address.moduleName,
                        "every INT4 level is 0: the projection is all zeros"))
            }
            if p.histogram[0] > 0 { minus8 += p.histogram[0]; minus8Projections += 1 }
            inexact += s.notFP16Exact
            scaleCount += s.count
        }
        if minus8 > 0 {
            findings.append(
                Finding(
                    .note, subject: "INT4 levels",
                    "level −8 occurs \(minus8) times in \(minus8Projections) projections "
                        + "(K2-Thinking's QAT grid never uses it; round-to-nearest quantization does)"))
        }
        if inexact > 0 {
            findings.append(
                Finding(
                    .note, subject: "scales",
                    "\(inexact) of \(scaleCount) scales are not exactly representable in F16: "
                        + "a Q4_0 export of those groups is not lossless"))
        }
        return (projections, layers.values.sorted { $0.layer < $1.layer }, findings)
    }

    /// Byte-identical routed experts (all three projections, levels and scales): hash first, bytes to confirm.
    static func duplicateFindings(model: ModelFolder, projections: inout [ProjectionStats]) -> [Finding] {
        var perExpert: [ExpertID: [TensorAddress]] = [:]
        var hashes: [ExpertID: UInt64] = [:]
        for p in projections where p.address.component.isRoutedExpert {
            guard let key = p.address.expertID else { continue }
            perExpert[key, default: []].append(p.address)
            hashes[key] = SplitMix64.mix((hashes[key] ?? 0) &+ p.packedHash &* 31 &+ p.scaleHash)
        }
        var byHash: [UInt64: [ExpertID]] = [:]
        for (key, h) in hashes where perExpert[key]?.count == 3 { byHash[h, default: []].append(key) }
        var out: [Finding] = []
        for (_, group) in byHash where group.count > 1 {
            let sorted = group.sorted()
            let first = sorted[0]
            for other in sorted.dropFirst() where sameBytes(model, first, other) {
                out.append(
                    Finding(
                        .warning, layer: other.layer, expert: other.expert, subject: TensorAddress.moduleName(of: other),
                        "byte-identical to \(first) (levels and scales of gate, up and down)"))
            }
        }
        return out
    }

    static func sameBytes(_ model: ModelFolder, _ a: ExpertID, _ b: ExpertID) -> Bool {
        for component in [TensorAddress.Component.expertGate, .expertUp, .expertDown] {
            for part in [TensorAddress.Part.weightPacked, .weightScale] {
                let x = TensorAddress(a, component: component, part: part).name
                let y = TensorAddress(b, component: component, part: part).name
                guard let bx = try? model.tensors.bytes(named: x), let by = try? model.tensors.bytes(named: y), bx.count == by.count,
                    let px = bx.baseAddress, let py = by.baseAddress, memcmp(px, py, bx.count) == 0
                else { return false }
            }
        }
        return true
    }

    // MARK: checksums

    static func verifyChecksums(_ list: ChecksumList, model: ModelFolder, threads: Int, progress: ByteProgress) throws
        -> ([(String, String, String)], [Finding])
    {
        let entries = list.entries
        var findings: [Finding] = []
        let present = entries.map { FileManager.default.fileExists(atPath: model.tensors.location.file($0.name)) }
        let actual = UnsafeTransfer(UnsafeMutableBufferPointer<String?>.allocate(capacity: entries.count))
        actual.value.initialize(repeating: nil)
        defer {
            actual.value.deinitialize()
            actual.value.deallocate()
        }
        // The items do not throw: an unreadable file is reported as such below.
        try? parallelItems(count: entries.count, workers: threads) { _, i in
            guard present[i] else { return }
            actual.value[i] = try? list.digest(i, path: model.tensors.location.file(entries[i].name)) { progress.add($0) }
        }
        var rows: [(String, String, String)] = []
        for (i, e) in entries.enumerated() {
            guard present[i] else {
                findings.append(Finding(.error, subject: e.name, "listed in the checksum file but missing from the model folder"))
                continue
            }
            let got = actual.value[i] ?? "unreadable"
            rows.append((e.name, e.sha256, got))
            if got != e.sha256 {
                let what = list.digests[i] == .sha256 ? "SHA-256" : "git blob id"
                let says = list.source == "hub" ? "its blob name in the cache says" : "the list says"
                findings.append(
                    Finding(
                        .error, subject: e.name, "\(what) is \(got), \(says) \(e.sha256); the file is corrupt or another revision"))
            }
        }
        let listed = Set(entries.map(\.name))
        for file in model.tensors.files {
            let name = String(file.path.dropFirst(model.tensors.location.folder.count).drop { $0 == "/" })
            if !listed.contains(name) {
                findings.append(
                    Finding(
                        .warning, subject: name,
                        list.source == "hub"
                            ? "not a link to a digest-named blob in the cache; not checked" : "not in the checksum list; not checked"))
            }
        }
        return (rows, findings)
    }
}
