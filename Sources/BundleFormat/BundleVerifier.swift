public import Checkpoint
public import Foundation
import Quantization
public import TensorIO

/// `ingot verify BUNDLE`: manifest (own SHA-256, strict keys, known layout), every extent's SHA-256, every padding
/// byte, every file's SHA-256 and size, and the structure against files/config.json.
public enum BundleVerifier {
    /// What verification found.
    public struct Report: Sendable {
        public let folder: String
        /// One line each: "error: …".
        public let findings: [String]
        public let extentsChecked: Int
        public let bytesChecked: Int
        public var ok: Bool { findings.isEmpty }
    }

    /// Verifies the bundle at `folder`.
    ///
    /// - Throws: ``BundleError`` when the manifest itself is unusable (then nothing else can be checked).
    public static func run(folder: String, progress: ((Int, Int) -> Void)? = nil) throws -> Report {
        let reader = try BundleReader(folder: folder)
        let m = reader.manifest
        var findings: [String] = []
        var checked = 0, bytes = 0
        let total = m.dataFiles.reduce(0) { $0 + $1.bytes }
        for f in m.dataFiles {
            guard let mapping = reader.mapping(f.name) else { continue }
            findings += checkDataFile(mapping.bytes, entry: f, manifest: m, path: (folder as NSString).appendingPathComponent(f.name)) {
                done in
                mapping.release(offset: 0, count: done)
                progress?(bytes + done, total)
            }
            checked += m.tensors.filter { $0.file == f.name }.count + m.experts.filter { $0.file == f.name }.count
            bytes += f.bytes
        }
        for f in m.files {
            let path = (BundleReader.filesFolder(of: folder) as NSString).appendingPathComponent(f.name)
            guard let mapping = try? MappedFile(path: path) else {
                findings.append("error: \(path): missing")
                continue
            }
            if mapping.length != f.bytes { findings.append("error: \(path): \(mapping.length) bytes, the manifest says \(f.bytes)") }
            let sha = SHA256Hex.of(mapping.bytes)
            if sha != f.sha256 { findings.append("error: \(path): SHA-256 \(sha), the manifest says \(f.sha256)") }
        }
        findings += structureFindings(reader)
        return Report(folder: folder, findings: findings, extentsChecked: checked, bytesChecked: bytes)
    }

    /// Checks one data file's bytes: every extent's SHA-256, every padding byte zero, the size, and the file's digest
    /// (format 2: the extent table's, format 1: the whole file's SHA-256, a second pass). Every byte of the file is
    /// covered, so any change is reported.
    public static func checkDataFile(
        _ all: UnsafeRawBufferPointer, entry f: BundleManifest.FileEntry, manifest m: BundleManifest,
        path: String, progress: (Int) -> Void = { _ in }
    ) -> [String] {
        var findings: [String] = []
        if all.count != f.bytes { findings.append("error: \(path): \(all.count) bytes, the manifest says \(f.bytes)") }
        var spans: [(offset: Int, bytes: Int, sha: String, what: String)] = []
        for t in m.tensors where t.file == f.name { spans.append((t.offset, t.storedBytes, t.sha256, "tensor \(t.name)")) }
        for e in m.experts where e.file == f.name {
            spans.append((e.offset, e.storedBytes, e.sha256, "layer \(e.layer) expert \(e.expert)"))
        }
        spans.sort { $0.offset < $1.offset }
        let wholeFile = m.version < 2
        var fileHash = SHA256Stream()
        var position = 0
        for s in spans {
            guard s.offset >= position, s.offset + s.bytes <= all.count else {
                findings.append("error: \(path): \(s.what) at \(s.offset) overlaps another extent or the end of the file")
                continue
            }
            let gap = UnsafeRawBufferPointer(rebasing: all[position..<s.offset])
            if let bad = firstNonZero(gap) { findings.append("error: \(path): non-zero padding byte at offset \(position + bad)") }
            let body = UnsafeRawBufferPointer(rebasing: all[s.offset..<(s.offset + s.bytes)])
            if wholeFile {
                fileHash.update(gap)
                fileHash.update(body)
            }
            let sha = SHA256Hex.of(body)
            if sha != s.sha { findings.append("error: \(path): \(s.what) has SHA-256 \(sha), the manifest says \(s.sha)") }
            position = s.offset + s.bytes
            progress(position)
        }
        let tail = UnsafeRawBufferPointer(rebasing: all[min(position, all.count)..<all.count])
        if let bad = firstNonZero(tail) {
            findings.append("error: \(path): non-zero byte at offset \(position + bad) after the last extent")
        }
        if wholeFile {
            fileHash.update(tail)
            let sha = fileHash.finalize()
            if sha != f.sha256 { findings.append("error: \(path): file SHA-256 \(sha), the manifest says \(f.sha256)") }
        } else {
            let sha = BundleManifest.extentsDigest(spans.map { ($0.offset, $0.bytes, $0.sha) }, fileBytes: all.count)
            if sha != f.sha256 {
                findings.append("error: \(path): extent-table SHA-256 \(sha), the manifest says \(f.sha256) (extents_sha256)")
            }
        }
        return findings
    }

    /// Offset of the first non-zero byte, or nil: memcmp against a zero page, then a byte scan of the one page
    /// that differs.
    static func firstNonZero(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        return zeroPage.withUnsafeBytes { zero -> Int? in
            var offset = 0
            while offset < bytes.count {
                let n = min(zero.count, bytes.count - offset)
                if memcmp(base + offset, zero.baseAddress!, n) != 0 {
                    return (offset..<(offset + n)).first { bytes[$0] != 0 }
                }
                offset += n
            }
            return nil
        }
    }

    private static let zeroPage = [UInt8](repeating: 0, count: 4096)

    /// Every expert of every MoE layer present with the config's shapes; dense tensors as the config implies.
    static func structureFindings(_ reader: BundleReader) -> [String] {
        let m = reader.manifest
        let configPath = (BundleReader.filesFolder(of: reader.folder) as NSString).appendingPathComponent("config.json")
        guard let config = try? ModelConfig(path: configPath) else { return ["error: \(configPath): missing or unreadable"] }
        var out: [String] = []
        if m.layers != config.numHiddenLayers || m.routedExperts != config.nRoutedExperts {
            out.append("error: manifest model (\(m.layers) layers, \(m.routedExperts) experts) disagrees with files/config.json")
        }
        let shapes: [TensorAddress.Component: [Int]] = [
            .expertGate: [config.moeIntermediateSize, config.hiddenSize], .expertUp: [config.moeIntermediateSize, config.hiddenSize],
            .expertDown: [config.hiddenSize, config.moeIntermediateSize],
        ]
        for layer in 0..<config.numHiddenLayers where config.isMoELayer(layer) {
            for expert in 0..<config.nRoutedExperts {
                guard let e = reader.expert(layer: layer, expert: expert) else {
                    out.append("error: layer \(layer) expert \(expert): missing from the bundle")
                    continue
                }
                for p in e.projections where [p.rows, p.columns] != shapes[p.component] {
                    out.append(
                        "error: layer \(layer) expert \(expert) \(p.component.rawValue): [\(p.rows), \(p.columns)], "
                            + "config implies \(shapes[p.component] ?? [])")
                }
                if e.projections.map(\.component) != [.expertGate, .expertUp, .expertDown] {
                    out.append("error: layer \(layer) expert \(expert): projections are not gate, up, down")
                }
            }
        }
        // Dense tensors: the config's inventory minus the routed experts' parts.
        for e in TensorInventory.expected(config) where !e.address.component.isRoutedExpert {
            guard let t = reader.tensor(e.address.name) else {
                out.append("error: \(e.address.name): missing from the bundle")
                continue
            }
            if t.shape != e.shape { out.append("error: \(t.name): shape \(t.shape), config implies \(e.shape)") }
        }
        return out
    }
}
