public import Foundation

/// Every safetensors file of a checkpoint, opened and cross-checked against its index.
///
/// Index checks: each `weight_map` entry exists in its shard; each shard tensor is mapped to that
/// shard; no tensor is in two shards; `metadata.total_size`, when present, equals the data bytes;
/// shard names stay inside the model folder (no absolute path, no `..`, no symlink escaping the
/// snapshot or its `blobs/`).
public final class SafetensorsCheckpoint: @unchecked Sendable {
    // Sendable: immutable after init; each file's mapping is read-only.
    /// Where the files are.
    public let location: ModelLocation
    /// Opened files, in index order (sorted shard names) or the single file.
    public let files: [SafetensorsFile]
    /// `__metadata__`-independent index metadata (`total_size` and others), empty for a single file.
    public let indexMetadata: [(key: String, value: JSONValue)]
    /// `*.safetensors` files in the folder that the index never names (not read; a stale shard of an earlier
    /// download is a classic cause of a silently wrong model, so readers warn about them).
    public let unindexedFiles: [String]
    private let locator: [String: (file: Int, tensor: Int)]

    /// Opens the checkpoint at `path` (file, folder or cache repository) and validates everything.
    ///
    /// - Throws: ``SafetensorsError`` or ``FileError``.
    public init(path: String) throws {
        location = try ModelLocation.resolve(path)
        if let single = location.singleFile {
            let file = try SafetensorsFile(path: single)
            files = [file]
            indexMetadata = []
            unindexedFiles = []
            var locator: [String: (Int, Int)] = [:]
            for (i, t) in file.tensors.enumerated() { locator[t.name] = (0, i) }
            self.locator = locator
            return
        }
        guard let indexPath = location.indexFile else { preconditionFailure("resolve gives a file or an index") }
        let (metadata, weightMap) = try Self.readIndex(indexPath)
        indexMetadata = metadata
        let shardNames = Array(Set(weightMap.map(\.shard))).sorted()
        let named = Set(shardNames.map { ($0 as NSString).lastPathComponent })
        unindexedFiles = ((try? FileManager.default.contentsOfDirectory(atPath: location.folder)) ?? [])
            .filter { $0.hasSuffix(".safetensors") && !named.contains($0) }.sorted()
        var files: [SafetensorsFile] = []
        var shardIndex: [String: Int] = [:]
        for name in shardNames {
            let shardPath = try Self.checkedShardPath(name, location: location, index: indexPath)
            shardIndex[name] = files.count
            files.append(try SafetensorsFile(path: shardPath))
        }
        self.files = files
        var locator: [String: (file: Int, tensor: Int)] = [:]
        var owner: [String: String] = [:]
        for (f, file) in files.enumerated() {
            for (i, t) in file.tensors.enumerated() {
                if let first = owner[t.name] {
                    throw SafetensorsError.tensorInTwoShards(tensor: t.name, firstShard: first, secondShard: shardNames[f])
                }
                owner[t.name] = shardNames[f]
                locator[t.name] = (f, i)
            }
        }
        var mapped = Set<String>()
        for (tensor, shard) in weightMap {
            mapped.insert(tensor)
            guard owner[tensor] == shard else {
                throw SafetensorsError.tensorMissingFromShard(index: indexPath, tensor: tensor, shard: shard)
            }
        }
        for (tensor, shard) in owner.sorted(by: { $0.key < $1.key }) where !mapped.contains(tensor) {
            throw SafetensorsError.tensorNotInIndex(shard: location.file(shard), tensor: tensor)
        }
        let actual = files.reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.byteCount } }
        if let declared = metadata.first(where: { $0.key == "total_size" })?.value {
            guard let size = declared.intValue else {
                throw SafetensorsError.invalidIndex(
                    file: indexPath, reason: "metadata.total_size \(declared.compactText) is not an integer")
            }
            guard size == actual else { throw SafetensorsError.totalSizeMismatch(index: indexPath, declared: size, actual: actual) }
        }
        self.locator = locator
    }

    /// Parses `model.safetensors.index.json`: `metadata` object (optional) and `weight_map`.
    private static func readIndex(_ path: String) throws -> ([(key: String, value: JSONValue)], [(tensor: String, shard: String)]) {
        let mapping = try MappedFile(path: path)
        return try parseIndex(mapping.bytes, path: path)
    }

    /// Parses index bytes (also the fuzz target's entry point).
    package static func parseIndex(_ bytes: UnsafeRawBufferPointer, path: String) throws
        -> ([(key: String, value: JSONValue)], [(tensor: String, shard: String)])
    {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            if let key = error.duplicateKey {
                throw SafetensorsError.invalidIndex(file: path, reason: "key '\(key)' appears twice")
            }
            throw SafetensorsError.invalidIndex(file: path, reason: "not valid JSON: \(error.description)")
        }
        guard let map = json["weight_map"]?.members else {
            throw SafetensorsError.invalidIndex(file: path, reason: "no 'weight_map' object")
        }
        guard !map.isEmpty else {
            throw SafetensorsError.invalidIndex(file: path, reason: "'weight_map' is empty: the index names no tensor")
        }
        var weightMap: [(tensor: String, shard: String)] = []
        for (tensor, value) in map {
            guard let shard = value.stringValue else {
                throw SafetensorsError.invalidIndex(file: path, reason: "weight_map['\(tensor)'] is a \(value.kindName), not a file name")
            }
            weightMap.append((tensor, shard))
        }
        var metadata: [(key: String, value: JSONValue)] = []
        if let m = json["metadata"] {
            guard let members = m.members else {
                throw SafetensorsError.invalidIndex(file: path, reason: "'metadata' is a \(m.kindName), not an object")
            }
            metadata = members
        }
        return (metadata, weightMap)
    }

    /// The real path of a shard, refusing names that leave the model folder.
    private static func checkedShardPath(_ name: String, location: ModelLocation, index: String) throws -> String {
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.isEmpty, !name.hasPrefix("/"), !components.contains(".."), !name.contains("\0") else {
            throw SafetensorsError.shardPathEscapes(index: index, shard: name, resolved: name)
        }
        let path = location.file(name)
        guard FileManager.default.fileExists(atPath: path) else {
            throw SafetensorsError.missingShard(index: index, shard: name)
        }
        let real = ModelLocation.realPath(path)
        let inside = location.allowedRoots.contains { root in real == root || real.hasPrefix(root.hasSuffix("/") ? root : root + "/") }
        guard inside else { throw SafetensorsError.shardPathEscapes(index: index, shard: name, resolved: real) }
        return path
    }

    /// Every tensor name, sorted.
    public var tensorNames: [String] { locator.keys.sorted() }

    /// Number of tensors across all files.
    public var tensorCount: Int { locator.count }

    /// The entry and its file for `name`, or nil.
    public func lookup(_ name: String) -> (file: SafetensorsFile, info: TensorInfo)? {
        guard let (f, t) = locator[name] else { return nil }
        return (files[f], files[f].header.tensors[t])
    }

    /// The entry for `name`, or nil.
    public func info(_ name: String) -> TensorInfo? { lookup(name)?.info }

    /// The raw bytes of the tensor named `name`, valid while this checkpoint is alive.
    ///
    /// - Throws: ``SafetensorsError/missingTensor(file:tensor:)``.
    public func bytes(named name: String) throws(SafetensorsError) -> UnsafeRawBufferPointer {
        guard let (file, info) = lookup(name) else { throw .missingTensor(file: location.folder, tensor: name) }
        return file.bytes(of: info)
    }

    /// Sum of the tensor data bytes (what `total_size` should say).
    public var dataBytes: Int { files.reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.byteCount } } }

    /// Sum of the files' lengths.
    public var fileBytes: Int { files.reduce(0) { $0 + $1.mapping.length } }
}
