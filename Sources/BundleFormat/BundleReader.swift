public import Checkpoint
public import Foundation
public import TensorIO

/// An opened bundle: manifest checked against manifest.sha256, data files mapped read-only.
///
/// Raw expert extents are zero-copy views of the mapping (``expertTiles(layer:expert:)``); compressed ones are
/// decompressed one extent at a time.
public final class BundleReader: @unchecked Sendable {
    // Sendable: immutable after init; mappings are read-only.
    public let folder: String
    public let manifest: BundleManifest
    /// Data file name → mapping.
    private let mappings: [String: MappedFile]
    private let expertIndex: [ExpertID: Int]
    private let tensorIndex: [String: Int]

    /// True when `folder` looks like a bundle (has a manifest.json). Asked only by ``ModelStoreKind`` (docs/model-store.md).
    static func isBundle(_ folder: String) -> Bool {
        FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("manifest.json"))
    }

    /// The folder inside a bundle that holds the model's own files (config.json, tokenizer, chat template), copied
    /// verbatim (docs/bundle-format.md).
    package static let filesFolderName = "files"

    /// The companion-files folder of the bundle at `folder`.
    package static func filesFolder(of folder: String) -> String {
        (folder as NSString).appendingPathComponent(filesFolderName)
    }

    /// Opens a bundle: manifest.json must match manifest.sha256, parse strictly, and every data file must exist
    /// with the size the manifest gives.
    ///
    /// - Throws: ``BundleError``.
    public init(folder: String) throws {
        self.folder = folder
        let manifestPath = (folder as NSString).appendingPathComponent("manifest.json")
        guard let data = FileManager.default.contents(atPath: manifestPath) else { throw BundleError.missingManifest(folder: folder) }
        let shaPath = (folder as NSString).appendingPathComponent("manifest.sha256")
        let shaText = (try? String(contentsOfFile: shaPath, encoding: .utf8)) ?? ""
        manifest = try data.withUnsafeBytes { try Self.validateManifest($0, shaText: shaText, folder: folder) }
        var mappings: [String: MappedFile] = [:]
        for f in manifest.dataFiles {
            let path = (folder as NSString).appendingPathComponent(f.name)
            let m = try MappedFile(path: path)
            guard m.length == f.bytes else { throw BundleError.sizeMismatch(file: path, expected: f.bytes, actual: m.length) }
            mappings[f.name] = m
        }
        self.mappings = mappings
        var experts: [ExpertID: Int] = [:]
        for (i, e) in manifest.experts.enumerated() { experts[ExpertID(layer: e.layer, expert: e.expert)] = i }
        expertIndex = experts
        var tensors: [String: Int] = [:]
        for (i, t) in manifest.tensors.enumerated() { tensors[t.name] = i }
        tensorIndex = tensors
        for t in manifest.tensors { try checkBounds(file: t.file, what: "tensor \(t.name)", offset: t.offset, bytes: t.storedBytes) }
        for e in manifest.experts {
            try checkBounds(file: e.file, what: "layer \(e.layer) expert \(e.expert)", offset: e.offset, bytes: e.storedBytes)
        }
    }

    /// Checks manifest.json's bytes against manifest.sha256's text, then parses them strictly.
    ///
    /// - Throws: ``BundleError``.
    public static func validateManifest(_ data: UnsafeRawBufferPointer, shaText: String, folder: String) throws -> BundleManifest {
        let manifestPath = (folder as NSString).appendingPathComponent("manifest.json")
        let shaPath = (folder as NSString).appendingPathComponent("manifest.sha256")
        guard let expected = shaText.split(separator: " ").first.map(String.init), shaText == "\(expected)  manifest.json\n" else {
            throw BundleError.invalidManifest(file: shaPath, reason: "missing or malformed (\"HEX  manifest.json\")")
        }
        let actual = SHA256Hex.of(data)
        guard actual == expected else {
            throw BundleError.checksumMismatch(file: manifestPath, what: "the manifest", expected: expected, actual: actual)
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            throw BundleError.invalidManifest(file: manifestPath, reason: "not JSON: \(error)")
        }
        return try BundleManifest(json: json, file: manifestPath)
    }

    private func checkBounds(file: String, what: String, offset: Int, bytes: Int) throws {
        let n = mappings[file]?.length ?? 0
        guard offset <= n, bytes <= n - offset else {
            throw BundleError.extentOutOfBounds(
                file: (folder as NSString).appendingPathComponent(file), what: what, offset: offset,
                bytes: bytes, fileBytes: n)
        }
    }

    /// The stored bytes of an extent (a zstd frame when compressed).
    func stored(file: String, offset: Int, bytes: Int) -> UnsafeRawBufferPointer {
        guard let m = mappings[file] else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: m.bytes[offset..<(offset + bytes)])
    }

    /// The manifest entry of an expert.
    public func expert(layer: Int, expert: Int) -> BundleManifest.ExpertExtent? {
        expertIndex[ExpertID(layer: layer, expert: expert)].map { manifest.experts[$0] }
    }

    /// The manifest entry of a dense tensor.
    public func tensor(_ name: String) -> BundleManifest.TensorExtent? {
        tensorIndex[name].map { manifest.tensors[$0] }
    }

    /// A dense tensor's bytes (never compressed), a view of the mapping.
    public func tensorBytes(_ t: BundleManifest.TensorExtent) -> UnsafeRawBufferPointer {
        stored(file: t.file, offset: t.offset, bytes: t.storedBytes)
    }

    /// A raw expert extent: zero-copy for raw bundles, decompressed (and un-transformed) for compressed ones.
    ///
    /// - Throws: ``ZstdError`` for a corrupt frame.
    public func expertExtent(_ e: BundleManifest.ExpertExtent, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let s = stored(file: e.file, offset: e.offset, bytes: e.storedBytes)
        switch manifest.compression {
        case .none:
            try body(s)
        case .zstd:
            let planes = try Zstd.decompress(s, expectedCount: e.projections.reduce(0) { $0 + $1.bytes })
            let raw = planes.withUnsafeBytes {
                ExpertBuilder.unplanes($0, projections: e.projections, layout: manifest.layout, rawBytes: e.bytes)
            }
            try raw.withUnsafeBytes { try body($0) }
        }
    }

    /// The mapping of a data file (for release after streaming).
    package func mapping(_ name: String) -> MappedFile? { mappings[name] }
}
