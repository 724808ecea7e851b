public import Foundation

/// Where a checkpoint's files are: a single file, a folder, or a Hugging Face cache snapshot.
///
/// Resolution rules:
/// - a `.safetensors` file is a single-file checkpoint; its folder holds config.json and friends;
/// - a folder with `model.safetensors.index.json` is sharded; with exactly one `*.safetensors` and no
///   index it is a single file; several without an index are refused (which belong together is unknown);
/// - a Hugging Face cache repository folder (`models--org--name`, holding `snapshots/`) resolves to the
///   snapshot named by `refs/main`, or to its only snapshot.
///
/// Files inside a cache snapshot are symlinks into the repository's `blobs/`; ``allowedRoots`` lists
/// the real paths shard files may resolve into, so a symlink escaping the tree is refused.
public struct ModelLocation: Sendable, Equatable {
    /// The folder holding config.json, the index and the shards (the snapshot folder for a cache).
    public let folder: String
    /// The single safetensors file, when there is no index.
    public let singleFile: String?
    /// The index file, when sharded.
    public let indexFile: String?
    /// Real paths that shard files may resolve into.
    public let allowedRoots: [String]

    /// The cache repository's `blobs/` folder when this is a Hugging Face cache snapshot (its files are links into
    /// it, each blob named by its digest; docs/model-store.md, "Hugging Face cache"), else nil.
    public var hubBlobs: String? { allowedRoots.dropFirst().first { ($0 as NSString).lastPathComponent == "blobs" } }

    /// The index file name Hugging Face writes for sharded checkpoints.
    public static let indexFileName = "model.safetensors.index.json"
    /// The job record an unfinished `ingot repack` leaves in its output folder until the bundle is complete
    /// (docs/bundle-format.md); a folder holding it is recognised as a job in progress, not an empty model.
    public static let repackJobFileName = "repack.json"
    /// The job record of a sliced `ingot quantize` (`--shard`) in the folder its slices share, until the last slice
    /// writes the index (docs/operations.md, "Scale-out").
    public static let quantizeJobFileName = "quantize.json"

    /// Resolves `path` as described above.
    ///
    /// - Throws: ``SafetensorsError/noCheckpoint(path:reason:)`` when nothing loadable is there, or
    ///   ``FileError`` when the path does not exist.
    public static func resolve(_ path: String) throws -> ModelLocation {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FileError(path: path, operation: "open", errno: ENOENT)
        }
        if !isDirectory.boolValue {
            let folder = (path as NSString).deletingLastPathComponent
            let folderPath = folder.isEmpty ? "." : folder
            return ModelLocation(
                folder: folderPath, singleFile: path, indexFile: nil,
                allowedRoots: [realPath(folderPath), realPath(path)])
        }
        let snapshots = (path as NSString).appendingPathComponent("snapshots")
        if fm.fileExists(atPath: snapshots, isDirectory: &isDirectory), isDirectory.boolValue {
            return try resolve(try snapshotFolder(repository: path))
        }
        var roots = [realPath(path)]
        // Inside a cache snapshot, blobs/ two levels up is also allowed.
        let repository = ((path as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let blobs = (repository as NSString).appendingPathComponent("blobs")
        if (((path as NSString).deletingLastPathComponent) as NSString).lastPathComponent == "snapshots",
            fm.fileExists(atPath: blobs)
        {
            roots.append(realPath(blobs))
        }
        let index = (path as NSString).appendingPathComponent(indexFileName)
        if fm.fileExists(atPath: index) {
            return ModelLocation(folder: path, singleFile: nil, indexFile: index, allowedRoots: roots)
        }
        let entries = (try? fm.contentsOfDirectory(atPath: path)) ?? []
        let files = entries.filter { $0.hasSuffix(".safetensors") }.sorted()
        if fm.fileExists(atPath: (path as NSString).appendingPathComponent(quantizeJobFileName)) {
            throw SafetensorsError.noCheckpoint(
                path: path,
                reason: "an unfinished sliced `ingot quantize` job (\(quantizeJobFileName), \(files.count) shards written, no "
                    + "\(indexFileName) yet): run the slices that have not finished; the last one writes the index")
        }
        // A file still being written (`NAME.partial` or `NAME.partial-PID`) and no index: a job was killed before
        // it finished (the index is written last), so what is here is not a whole model.
        if let partial = entries.filter({ $0.contains(".safetensors.partial") }).sorted().first {
            throw SafetensorsError.noCheckpoint(
                path: path,
                reason: "an unfinished job: \(partial) is a file an interrupted `ingot unpack`, `quantize` or `synth` was still "
                    + "writing and there is no \(indexFileName) yet; run the same command again into a new or emptied folder, or "
                    + "delete this one")
        }
        switch files.count {
        case 0:
            if fm.fileExists(atPath: (path as NSString).appendingPathComponent(repackJobFileName)) {
                throw SafetensorsError.noCheckpoint(
                    path: path,
                    reason: "an unfinished `ingot repack` job (\(repackJobFileName), no manifest.json yet): run the same "
                        + "repack command again to resume it, or delete the folder to discard it")
            }
            if let partial = entries.filter({ $0.hasSuffix(".bin.partial") }).sorted().first {
                throw SafetensorsError.noCheckpoint(
                    path: path,
                    reason: "an unfinished `ingot inflate` job (\(partial), no manifest.json yet): run it again into an emptied "
                        + "folder, or delete this one")
            }
            throw SafetensorsError.noCheckpoint(path: path, reason: "no .safetensors file and no \(indexFileName)")
        case 1:
            return ModelLocation(
                folder: path, singleFile: (path as NSString).appendingPathComponent(files[0]),
                indexFile: nil, allowedRoots: roots)
        default:
            throw SafetensorsError.noCheckpoint(
                path: path, reason: "\(files.count) .safetensors files but no \(indexFileName); cannot tell which belong together")
        }
    }

    /// The snapshot a cache repository's `refs/main` names, or its only snapshot.
    private static func snapshotFolder(repository: String) throws -> String {
        let fm = FileManager.default
        let snapshots = (repository as NSString).appendingPathComponent("snapshots")
        let ref = (repository as NSString).appendingPathComponent("refs/main")
        if let text = try? String(contentsOfFile: ref, encoding: .utf8) {
            let revision = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !revision.isEmpty, !revision.contains("/"), revision != "..", revision != "." else {
                throw SafetensorsError.noCheckpoint(path: ref, reason: "refs/main holds '\(revision)', not a revision")
            }
            let folder = (snapshots as NSString).appendingPathComponent(revision)
            guard fm.fileExists(atPath: folder) else {
                throw SafetensorsError.noCheckpoint(path: repository, reason: "refs/main names snapshot \(revision), which is missing")
            }
            return folder
        }
        let entries = ((try? fm.contentsOfDirectory(atPath: snapshots)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        guard entries.count == 1 else {
            throw SafetensorsError.noCheckpoint(
                path: repository, reason: "\(entries.count) snapshots and no refs/main; pass the snapshot folder itself")
        }
        return (snapshots as NSString).appendingPathComponent(entries[0])
    }

    /// `realpath(3)` of `path`, or `path` itself when it does not resolve.
    public static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// A file in ``folder``.
    public func file(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
}
