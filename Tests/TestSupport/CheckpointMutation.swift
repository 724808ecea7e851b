public import Foundation
public import TensorIO

/// Rewrites every shard of a sharded checkpoint through `transform`, which returns the tensors to write in
/// place of each input tensor (none to drop it, several to add some), then rewrites the index to match.
public func mutateCheckpoint(
    _ folder: String,
    _ transform: (TensorSpec, [UInt8]) throws -> [(TensorSpec, [UInt8])]
) throws {
    let checkpoint = try SafetensorsCheckpoint(path: folder)
    var shards: [(name: String, tensors: [TensorSpec])] = []
    var contents: [[String: [UInt8]]] = []
    for file in checkpoint.files {
        var specs: [TensorSpec] = []
        var bytes: [String: [UInt8]] = [:]
        for t in file.tensors {
            for (spec, data) in try transform(TensorSpec(name: t.name, dtype: t.dtype, shape: t.shape), Array(file.bytes(of: t))) {
                specs.append(spec)
                bytes[spec.name] = data
            }
        }
        shards.append(((file.path as NSString).lastPathComponent, specs))
        contents.append(bytes)
    }
    for (i, shard) in shards.enumerated() {
        let writer = try SafetensorsWriter(path: folder + "/" + shard.name, tensors: shard.tensors)
        for spec in writer.order { try contents[i][spec.name]!.withUnsafeBytes { try writer.write($0) } }
        try writer.finish()
    }
    try ShardedWriter.indexText(shards: shards).write(toFile: folder + "/" + ModelLocation.indexFileName, atomically: true, encoding: .utf8)
}

/// Replaces text in a file of the folder (config.json edits).
public func editFile(_ path: String, replacing old: String, with new: String) throws {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    precondition(text.contains(old), "\(path) has no '\(old)'")
    try text.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: true, encoding: .utf8)
}
