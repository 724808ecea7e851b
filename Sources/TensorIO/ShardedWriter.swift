public import Foundation

/// Writes a sharded checkpoint: shard files in order, then `model.safetensors.index.json` last.
///
/// The index maps each tensor to its shard and records `metadata.total_size` (tensor data bytes,
/// excluding headers, as huggingface_hub computes it). Until the index exists the folder is not a
/// loadable sharded checkpoint, so an interrupted write is never mistaken for a complete one.
public final class ShardedWriter {
    /// Output folder.
    public let folder: String
    /// The shards' file names and contents, in writing order.
    public let shards: [(name: String, tensors: [TensorSpec])]
    private let metadata: [String: String]
    private var current = 0
    private var writer: SafetensorsWriter?

    /// Plans the output. Shard names are the caller's (K2 uses `model-00001-of-000062.safetensors`).
    ///
    /// - Precondition: shard names are distinct and tensor names unique across shards.
    public init(folder: String, shards: [(name: String, tensors: [TensorSpec])], metadata: [String: String] = [:]) {
        precondition(Set(shards.map(\.name)).count == shards.count, "duplicate shard names")
        self.folder = folder
        self.shards = shards
        self.metadata = metadata
    }

    /// Opens the next shard for writing and returns its writer (write tensors in `writer.order`).
    ///
    /// - Throws: ``FileError`` or ``SafetensorsError``.
    public func beginShard() throws -> SafetensorsWriter {
        precondition(writer == nil && current < shards.count, "beginShard out of order")
        let shard = shards[current]
        let w = try SafetensorsWriter(
            path: (folder as NSString).appendingPathComponent(shard.name),
            tensors: shard.tensors, metadata: metadata)
        writer = w
        return w
    }

    /// Finishes the open shard.
    public func endShard() throws {
        guard let w = writer else { preconditionFailure("endShard without beginShard") }
        try w.finish()
        writer = nil
        current += 1
    }

    /// Writes the index after the last shard.
    public func finish() throws {
        precondition(current == shards.count && writer == nil, "finish before every shard was written")
        try AtomicFile.write(
            Self.indexText(shards: shards.map { ($0.name, $0.tensors) }),
            to: (folder as NSString).appendingPathComponent(ModelLocation.indexFileName))
    }

    /// The index JSON for a shard plan: weight_map sorted by tensor name, two-space indent.
    public static func indexText(shards: [(name: String, tensors: [TensorSpec])]) -> String {
        var map: [(String, String)] = []
        var total = 0
        for shard in shards {
            for t in shard.tensors {
                map.append((t.name, shard.name))
                total += t.byteCount
            }
        }
        map.sort { $0.0 < $1.0 }
        let index = JSONValue.object([
            ("metadata", .object([("total_size", .int(total))])),
            ("weight_map", .object(map.map { ($0.0, JSONValue.string($0.1)) })),
        ])
        return index.prettyText + "\n"
    }
}
