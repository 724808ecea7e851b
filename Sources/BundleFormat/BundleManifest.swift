public import Checkpoint
public import Foundation
public import TensorIO

/// manifest.json of a bundle (docs/bundle-format.md). Encoding is deterministic (fixed key order), so two runs
/// that write the same data write the same manifest.
public struct BundleManifest: Sendable, Equatable {
    /// Compression of the extents.
    public enum Compression: Sendable, Equatable {
        case none
        /// One zstd frame per extent; expert extents go through the `planes` transform first.
        case zstd(level: Int)
    }

    /// One original shard: its name, `__metadata__` and tensors (in the order they were listed).
    public struct SourceShard: Sendable, Equatable {
        public var name: String
        public var metadata: [String: String]
        public var tensors: [String]
    }

    /// A whole file: a data file or a verbatim model file under files/. `sha256` is the SHA-256 of the file's bytes,
    /// except for data files from format version 2 on, where it is the file's extent-table digest
    /// (``extentsDigest(_:fileBytes:)``, key `extents_sha256`).
    public struct FileEntry: Sendable, Equatable {
        public var name: String
        public var bytes: Int
        public var sha256: String
    }

    /// A dense tensor stored as one extent.
    public struct TensorExtent: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var file: String
        public var offset: Int
        public var storedBytes: Int
        public var bytes: Int
        public var sha256: String
    }

    /// One projection block inside an expert extent (offsets within the raw extent).
    public struct Projection: Sendable, Equatable {
        public var component: TensorAddress.Component
        public var rows: Int
        public var columns: Int
        public var offset: Int
        public var bytes: Int
        /// dtype of the source's `weight_shape` tensor.
        public var shapeDType: DType
    }

    /// One routed expert stored as one extent.
    public struct ExpertExtent: Sendable, Equatable {
        public var layer: Int
        public var expert: Int
        public var file: String
        public var offset: Int
        public var storedBytes: Int
        public var bytes: Int
        public var sha256: String
        public var projections: [Projection]
    }

    public static let formatName = "ingot-bundle"
    /// The version this ingot writes. Version 1 (readable) differs only in data files' digests: the SHA-256 of the
    /// whole file instead of the extent-table digest.
    public static let version = 2
    /// The versions this ingot reads.
    public static let readableVersions = 1...2

    /// This manifest's format version.
    public var version: Int

    public var tileRows: Int
    public var extentAlignment: Int
    public var tensorAlignment: Int
    public var compression: Compression
    public var form: String
    public var layers: Int
    public var routedExperts: Int
    public var sourceShards: [SourceShard]
    public var files: [FileEntry]
    public var dataFiles: [FileEntry]
    public var tensors: [TensorExtent]
    public var experts: [ExpertExtent]
    /// Layer → expert order (only layers with experts).
    public var expertOrder: [(layer: Int, order: [Int])]

    public static func == (a: BundleManifest, b: BundleManifest) -> Bool { a.json == b.json }

    /// The layout this manifest describes.
    public var layout: TileLayout { TileLayout(tileRows: tileRows) }
}

// MARK: encoding

extension BundleManifest {
    static func compressionJSON(_ c: Compression) -> JSONValue {
        switch c {
        case .none: .object([("codec", .string("none"))])
        case .zstd(let level): .object([("codec", .string("zstd")), ("level", .int(level)), ("transform", .string("planes"))])
        }
    }

    static func fileJSON(_ f: FileEntry) -> JSONValue {
        .object([("name", .string(f.name)), ("bytes", .int(f.bytes)), ("sha256", .string(f.sha256))])
    }

    /// A data file's entry: from version 2 its digest is the extent table's (key `extents_sha256`).
    static func dataFileJSON(_ f: FileEntry, version: Int = BundleManifest.version) -> JSONValue {
        .object([("name", .string(f.name)), ("bytes", .int(f.bytes)), (version >= 2 ? "extents_sha256" : "sha256", .string(f.sha256))])
    }

    /// A data file's digest from format version 2 on: the SHA-256 of its extent table, one line
    /// `OFFSET STORED_BYTES SHA256\n` per extent in offset order, then `FILE_BYTES\n` (decimal, lowercase hex). With
    /// each extent's SHA-256 and the rule that every other byte is zero padding, it stands for every byte of the file,
    /// and costs no second pass of SHA-256 over the data (a repack hashed every byte twice before).
    public static func extentsDigest(_ extents: [(offset: Int, storedBytes: Int, sha256: String)], fileBytes: Int) -> String {
        let text =
            extents.sorted { $0.offset < $1.offset }.map { "\($0.offset) \($0.storedBytes) \($0.sha256)\n" }.joined() + "\(fileBytes)\n"
        return Array(text.utf8).withUnsafeBytes { SHA256Hex.of($0) }
    }

    static func tensorJSON(_ t: TensorExtent) -> JSONValue {
        .object([
            ("name", .string(t.name)), ("dtype", .string(t.dtype.rawValue)), ("shape", .array(t.shape.map(JSONValue.int))),
            ("file", .string(t.file)), ("offset", .int(t.offset)), ("stored_bytes", .int(t.storedBytes)), ("bytes", .int(t.bytes)),
            ("sha256", .string(t.sha256)),
        ])
    }

    static func expertJSON(_ e: ExpertExtent) -> JSONValue {
        .object([
            ("layer", .int(e.layer)), ("expert", .int(e.expert)), ("file", .string(e.file)), ("offset", .int(e.offset)),
            ("stored_bytes", .int(e.storedBytes)), ("bytes", .int(e.bytes)), ("sha256", .string(e.sha256)),
            (
                "projections",
                .array(
                    e.projections.map { p in
                        .object([
                            ("component", .string(String(p.component.rawValue.dropFirst("mlp.experts.E.".count)))), ("rows", .int(p.rows)),
                            ("columns", .int(p.columns)), ("offset", .int(p.offset)), ("bytes", .int(p.bytes)),
                            ("shape_dtype", .string(p.shapeDType.rawValue)),
                        ])
                    })
            ),
        ])
    }

    static func orderJSON(_ o: [(layer: Int, order: [Int])]) -> JSONValue {
        .array(o.map { .object([("layer", .int($0.layer)), ("order", .array($0.order.map(JSONValue.int)))]) })
    }

    /// The manifest as JSON, keys in the documented order.
    public var json: JSONValue {
        .object([
            ("format", .string(Self.formatName)),
            ("version", .int(version)),
            (
                "layout",
                .object([
                    ("id", .string(TileLayout.id)), ("tile_rows", .int(tileRows)), ("group_size", .int(TileLayout.groupSize)),
                    ("nibble_order", .string(TileLayout.nibbleOrder)), ("scale_placement", .string(TileLayout.scalePlacement)),
                    ("extent_alignment", .int(extentAlignment)), ("tensor_alignment", .int(tensorAlignment)),
                ])
            ),
            ("compression", Self.compressionJSON(compression)),
            ("model", .object([("form", .string(form)), ("layers", .int(layers)), ("routed_experts", .int(routedExperts))])),
            (
                "source_shards",
                .array(
                    sourceShards.map { s in
                        .object([
                            ("name", .string(s.name)),
                            ("metadata", .object(s.metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })),
                            ("tensors", .array(s.tensors.map(JSONValue.string))),
                        ])
                    })
            ),
            ("files", .array(files.map(Self.fileJSON))),
            ("data_files", .array(dataFiles.map { Self.dataFileJSON($0, version: version) })),
            ("tensors", .array(tensors.map(Self.tensorJSON))),
            ("experts", .array(experts.map(Self.expertJSON))),
            ("expert_order", Self.orderJSON(expertOrder)),
        ])
    }
}

// MARK: decoding

/// Strict field access for manifest objects: unknown keys and wrong types are errors naming the path.
struct ManifestObject {
    let value: JSONValue
    let path: String
    let file: String

    init(_ value: JSONValue, path: String, file: String, keys: [String]) throws(BundleError) {
        guard let members = value.members else { throw .invalidManifest(file: file, reason: "\(path) is not an object") }
        for m in members where !keys.contains(m.key) {
            throw .invalidManifest(file: file, reason: "unknown key '\(path.isEmpty ? "" : path + ".")\(m.key)'")
        }
        self.value = value
        self.path = path
        self.file = file
    }

    func field(_ key: String) throws(BundleError) -> JSONValue {
        guard let v = value[key] else { throw .invalidManifest(file: file, reason: "missing '\(path.isEmpty ? "" : path + ".")\(key)'") }
        return v
    }

    func int(_ key: String) throws(BundleError) -> Int {
        guard let i = try field(key).intValue, i >= 0 else { throw .invalidManifest(file: file, reason: "'\(path).\(key)' is not a count") }
        return i
    }

    func string(_ key: String) throws(BundleError) -> String {
        guard let s = try field(key).stringValue else { throw .invalidManifest(file: file, reason: "'\(path).\(key)' is not a string") }
        return s
    }

    func array(_ key: String) throws(BundleError) -> [JSONValue] {
        guard let a = try field(key).elements else { throw .invalidManifest(file: file, reason: "'\(path).\(key)' is not an array") }
        return a
    }

    func object(_ key: String, keys: [String]) throws(BundleError) -> ManifestObject {
        try ManifestObject(try field(key), path: path.isEmpty ? key : path + "." + key, file: file, keys: keys)
    }

    func sha(_ key: String) throws(BundleError) -> String {
        let s = try string(key)
        guard s.count == 64, s.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw .invalidManifest(file: file, reason: "'\(path).\(key)' is not a SHA-256")
        }
        return s
    }

    func dtype(_ key: String) throws(BundleError) -> DType {
        let s = try string(key)
        guard let d = DType(rawValue: s) else { throw .invalidManifest(file: file, reason: "'\(path).\(key)' has unknown dtype \(s)") }
        return d
    }
}

extension BundleManifest {
    static func parseFile(_ v: JSONValue, path: String, file: String, digestKey: String = "sha256") throws(BundleError) -> FileEntry {
        let o = try ManifestObject(v, path: path, file: file, keys: ["name", "bytes", digestKey])
        return FileEntry(name: try o.string("name"), bytes: try o.int("bytes"), sha256: try o.sha(digestKey))
    }

    static func parseTensor(_ v: JSONValue, path: String, file: String) throws(BundleError) -> TensorExtent {
        let o = try ManifestObject(
            v, path: path, file: file,
            keys: ["name", "dtype", "shape", "file", "offset", "stored_bytes", "bytes", "sha256"])
        var shape: [Int] = []
        for d in try o.array("shape") {
            guard let i = d.intValue, i >= 0 else { throw .invalidManifest(file: file, reason: "\(path).shape has \(d.compactText)") }
            shape.append(i)
        }
        return TensorExtent(
            name: try o.string("name"), dtype: try o.dtype("dtype"), shape: shape, file: try o.string("file"),
            offset: try o.int("offset"), storedBytes: try o.int("stored_bytes"), bytes: try o.int("bytes"),
            sha256: try o.sha("sha256"))
    }

    static func parseExpert(_ v: JSONValue, path: String, file: String) throws(BundleError) -> ExpertExtent {
        let o = try ManifestObject(
            v, path: path, file: file,
            keys: ["layer", "expert", "file", "offset", "stored_bytes", "bytes", "sha256", "projections"])
        var projections: [Projection] = []
        for (i, p) in try o.array("projections").enumerated() {
            let q = try ManifestObject(
                p, path: "\(path).projections[\(i)]", file: file,
                keys: ["component", "rows", "columns", "offset", "bytes", "shape_dtype"])
            let name = try q.string("component")
            guard let component = TensorAddress.Component(rawValue: "mlp.experts.E." + name), component.isRoutedExpert else {
                throw .invalidManifest(file: file, reason: "\(q.path).component '\(name)' is not gate_proj, up_proj or down_proj")
            }
            projections.append(
                Projection(
                    component: component, rows: try q.int("rows"), columns: try q.int("columns"),
                    offset: try q.int("offset"), bytes: try q.int("bytes"), shapeDType: try q.dtype("shape_dtype")))
        }
        return ExpertExtent(
            layer: try o.int("layer"), expert: try o.int("expert"), file: try o.string("file"), offset: try o.int("offset"),
            storedBytes: try o.int("stored_bytes"), bytes: try o.int("bytes"), sha256: try o.sha("sha256"),
            projections: projections)
    }

    static func parseCompression(_ v: JSONValue, file: String) throws(BundleError) -> Compression {
        let o = try ManifestObject(v, path: "compression", file: file, keys: ["codec", "level", "transform"])
        switch try o.string("codec") {
        case "none": return .none
        case "zstd":
            guard try o.string("transform") == "planes" else { throw .invalidManifest(file: file, reason: "unknown compression transform") }
            return .zstd(level: try o.int("level"))
        case let other: throw .invalidManifest(file: file, reason: "unknown codec '\(other)'")
        }
    }

    static func parseOrder(_ values: [JSONValue], file: String) throws(BundleError) -> [(layer: Int, order: [Int])] {
        var out: [(Int, [Int])] = []
        for (i, v) in values.enumerated() {
            let o = try ManifestObject(v, path: "expert_order[\(i)]", file: file, keys: ["layer", "order"])
            out.append(
                (
                    try o.int("layer"),
                    try o.array("order").map { x throws(BundleError) in
                        guard let e = x.intValue, e >= 0 else {
                            throw .invalidManifest(file: file, reason: "expert_order[\(i)] has \(x.compactText)")
                        }
                        return e
                    }
                ))
        }
        return out
    }

    /// Parses and validates a manifest.
    ///
    /// - Throws: ``BundleError`` naming the key or value.
    public init(json: JSONValue, file: String) throws(BundleError) {
        let root = try ManifestObject(
            json, path: "", file: file,
            keys: [
                "format", "version", "layout", "compression", "model", "source_shards", "files", "data_files", "tensors", "experts",
                "expert_order",
            ])
        guard try root.string("format") == Self.formatName else {
            throw .invalidManifest(file: file, reason: "not an ingot bundle manifest")
        }
        version = try root.int("version")
        guard Self.readableVersions.contains(version) else {
            throw .invalidManifest(
                file: file,
                reason:
                    "format version \(version); this ingot reads \(Self.readableVersions.lowerBound)–\(Self.readableVersions.upperBound)")
        }
        let layout = try root.object(
            "layout",
            keys: [
                "id", "tile_rows", "group_size", "nibble_order", "scale_placement",
                "extent_alignment", "tensor_alignment",
            ])
        let id = try layout.string("id"), group = try layout.int("group_size")
        let nibbles = try layout.string("nibble_order"), scales = try layout.string("scale_placement")
        tileRows = try layout.int("tile_rows")
        guard id == TileLayout.id, group == TileLayout.groupSize, nibbles == TileLayout.nibbleOrder, scales == TileLayout.scalePlacement,
            tileRows >= 1
        else {
            throw .unknownLayout(file: file, layout: "\(id) rows \(tileRows) group \(group) \(nibbles) \(scales)")
        }
        extentAlignment = try layout.int("extent_alignment")
        tensorAlignment = try layout.int("tensor_alignment")
        guard extentAlignment > 0, tensorAlignment > 0 else { throw .invalidManifest(file: file, reason: "alignment must be positive") }
        compression = try Self.parseCompression(try root.field("compression"), file: file)
        let model = try root.object("model", keys: ["form", "layers", "routed_experts"])
        form = try model.string("form")
        layers = try model.int("layers")
        routedExperts = try model.int("routed_experts")
        sourceShards = try root.array("source_shards").enumerated().map { (i, v) throws(BundleError) in
            let o = try ManifestObject(v, path: "source_shards[\(i)]", file: file, keys: ["name", "metadata", "tensors"])
            var metadata: [String: String] = [:]
            for (k, value) in try o.field("metadata").members ?? [] {
                guard let s = value.stringValue else {
                    throw .invalidManifest(file: file, reason: "\(o.path).metadata.\(k) is not a string")
                }
                metadata[k] = s
            }
            return SourceShard(
                name: try o.string("name"), metadata: metadata,
                tensors: try o.array("tensors").map { x throws(BundleError) in
                    guard let s = x.stringValue else {
                        throw .invalidManifest(file: file, reason: "\(o.path).tensors has \(x.compactText)")
                    }
                    return s
                })
        }
        files = try root.array("files").enumerated().map { (i, v) throws(BundleError) in
            try Self.parseFile(v, path: "files[\(i)]", file: file)
        }
        let digestKey = version >= 2 ? "extents_sha256" : "sha256"
        dataFiles = try root.array("data_files").enumerated().map { (i, v) throws(BundleError) in
            try Self.parseFile(v, path: "data_files[\(i)]", file: file, digestKey: digestKey)
        }
        tensors = try root.array("tensors").enumerated().map { (i, v) throws(BundleError) in
            try Self.parseTensor(v, path: "tensors[\(i)]", file: file)
        }
        experts = try root.array("experts").enumerated().map { (i, v) throws(BundleError) in
            try Self.parseExpert(v, path: "experts[\(i)]", file: file)
        }
        expertOrder = try Self.parseOrder(try root.array("expert_order"), file: file)
        for name in files.map(\.name) + dataFiles.map(\.name) where name.contains("/") || name.hasPrefix(".") || name.isEmpty {
            throw .invalidManifest(file: file, reason: "file name '\(name)' leaves the bundle folder")
        }
        let dataNames = Set(dataFiles.map(\.name))
        for f in tensors.map(\.file) + experts.map(\.file) where !dataNames.contains(f) {
            throw .invalidManifest(file: file, reason: "an extent names '\(f)', which is not among data_files")
        }
    }
}
