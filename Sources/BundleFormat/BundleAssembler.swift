public import Checkpoint
public import Foundation
public import TensorIO

/// Turns finished units into a bundle: files/, fragments → manifest.sha256 and manifest.json (last).
enum BundleAssembler {
    /// Files of a model folder that travel in files/: everything but the weights and the index.
    static func companionFiles(_ model: ModelFolder) -> [String] {
        let fm = FileManager.default
        return ((try? fm.contentsOfDirectory(atPath: model.folder)) ?? []).sorted().filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasSuffix(".safetensors") && name != ModelLocation.indexFileName && !name.hasPrefix(".")
                && fm.fileExists(atPath: model.tensors.location.file(name), isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    /// Written when a job starts, identical in every slice: files/ copies and source.json (shards, model facts).
    static func writeSourceRecord(model: ModelFolder, options: BundleRepacker.Options, folder: String) throws {
        let fm = FileManager.default
        let files = BundleReader.filesFolder(of: folder)
        try fm.createDirectory(atPath: files, withIntermediateDirectories: true)
        for name in companionFiles(model) {
            try AtomicFile.write(
                Array(try Data(contentsOf: URL(fileURLWithPath: model.tensors.location.file(name)))),
                to: (files as NSString).appendingPathComponent(name))
        }
        let shards: [JSONValue] = model.tensors.files.map { f in
            .object([
                ("name", .string(String(f.path.dropFirst(model.folder.count).drop { $0 == "/" }))),
                ("metadata", .object(f.header.metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })),
                ("tensors", .array(f.tensors.map { JSONValue.string($0.name) })),
            ])
        }
        let record = JSONValue.object([
            ("form", .string(model.kind.id)),
            ("layers", .int(model.config.numHiddenLayers)),
            ("routed_experts", .int(model.config.nRoutedExperts)),
            ("tile_rows", .int(options.tileRows)),
            ("compression", BundleManifest.compressionJSON(options.compression)),
            ("source_shards", .array(shards)),
        ])
        try AtomicFile.write(record.prettyText + "\n", to: (folder as NSString).appendingPathComponent("source.json"))
    }

    static func readJSON(_ path: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else { throw BundleError.missingManifest(folder: path) }
        do {
            return try data.withUnsafeBytes { try JSONValue.parse($0) }
        } catch {
            throw BundleError.invalidManifest(file: path, reason: "not JSON: \(error)")
        }
    }

    /// Builds the manifest from source.json, files/ and the units' fragments, then writes manifest.sha256 and,
    /// last, manifest.json; then removes the job's working files.
    static func finalize(folder: String, units: [String]) throws {
        func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        let source = try readJSON(path("source.json"))
        var tensors: [JSONValue] = [], experts: [JSONValue] = [], dataFiles: [JSONValue] = [], order: [JSONValue] = []
        for unit in units {
            let fragment = try readJSON(path(unit + ".json"))
            guard fragment["data_file"]?["extents_sha256"] != nil else {
                throw BundleError.invalidManifest(
                    file: path(unit + ".json"),
                    reason: "written by an ingot of bundle format 1 (no extents_sha256); remove the output folder and repack")
            }
            dataFiles.append(fragment["data_file"] ?? .null)
            tensors += fragment["tensors"]?.elements ?? []
            experts += fragment["experts"]?.elements ?? []
            order += fragment["expert_order"]?.elements ?? []
        }
        var files: [JSONValue] = []
        let fm = FileManager.default
        let filesFolder = BundleReader.filesFolderName
        for name in ((try? fm.contentsOfDirectory(atPath: path(filesFolder))) ?? []).sorted() where !name.contains(".partial-") {
            let mapping = try MappedFile(path: path(filesFolder + "/" + name))
            files.append(BundleManifest.fileJSON(.init(name: name, bytes: mapping.length, sha256: SHA256Hex.of(mapping.bytes))))
        }
        let manifestJSON = JSONValue.object([
            ("format", .string(BundleManifest.formatName)),
            ("version", .int(BundleManifest.version)),
            (
                "layout",
                .object([
                    ("id", .string(TileLayout.id)), ("tile_rows", source["tile_rows"] ?? .int(8)),
                    ("group_size", .int(TileLayout.groupSize)),
                    ("nibble_order", .string(TileLayout.nibbleOrder)), ("scale_placement", .string(TileLayout.scalePlacement)),
                    ("extent_alignment", .int(BundleRepacker.extentAlignment)), ("tensor_alignment", .int(BundleRepacker.tensorAlignment)),
                ])
            ),
            ("compression", source["compression"] ?? .null),
            (
                "model",
                .object([
                    ("form", source["form"] ?? .null), ("layers", source["layers"] ?? .null),
                    ("routed_experts", source["routed_experts"] ?? .null),
                ])
            ),
            ("source_shards", source["source_shards"] ?? .array([])),
            ("files", .array(files)),
            ("data_files", .array(dataFiles)),
            ("tensors", .array(tensors)),
            ("experts", .array(experts)),
            ("expert_order", .array(order)),
        ])
        _ = try BundleManifest(json: manifestJSON, file: path("manifest.json"))  // what we write must read back
        let text = Array((manifestJSON.prettyText + "\n").utf8)
        let sha = text.withUnsafeBytes { SHA256Hex.of($0) }
        try AtomicFile.write("\(sha)  manifest.json\n", to: path("manifest.sha256"))
        try AtomicFile.write(text, to: path("manifest.json"))
        removeJobFiles(folder: folder, units: units)
    }

    /// Removes the working files of a finished job; repack.json goes last, so a kill in between is finished by a re-run.
    static func removeJobFiles(folder: String, units: [String]) {
        let fm = FileManager.default
        for unit in units { try? fm.removeItem(atPath: (folder as NSString).appendingPathComponent(unit + ".json")) }
        for name in ["source.json", ModelLocation.repackJobFileName] {
            try? fm.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
        }
    }
}
