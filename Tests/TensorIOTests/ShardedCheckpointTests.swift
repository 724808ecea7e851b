import Foundation
import TensorIO
import TestSupport
import Testing

@Suite("sharded checkpoints, index checks and the Hugging Face cache layout")
struct ShardedCheckpointTests {
    /// Two shards: a.safetensors {x, y}, b.safetensors {z}; returns the folder.
    func makeCheckpoint() throws -> String {
        let folder = temporaryFolder()
        let writer = ShardedWriter(
            folder: folder,
            shards: [
                ("a.safetensors", [TensorSpec(name: "x", dtype: .f32, shape: [2]), TensorSpec(name: "y", dtype: .u8, shape: [3])]),
                ("b.safetensors", [TensorSpec(name: "z", dtype: .bf16, shape: [2, 2])]),
            ])
        for _ in 0..<2 {
            let w = try writer.beginShard()
            for spec in w.order { try [UInt8](repeating: 7, count: spec.byteCount).withUnsafeBytes { try w.write($0) } }
            try writer.endShard()
        }
        try writer.finish()
        return folder
    }

    func editIndex(_ folder: String, _ edit: (inout String) -> Void) throws {
        let path = folder + "/model.safetensors.index.json"
        var text = try String(contentsOfFile: path, encoding: .utf8)
        edit(&text)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test("a sharded checkpoint opens, every tensor is found, total_size matches")
    func opens() throws {
        let folder = try makeCheckpoint()
        let checkpoint = try SafetensorsCheckpoint(path: folder)
        #expect(checkpoint.tensorNames == ["x", "y", "z"])
        #expect(checkpoint.dataBytes == 8 + 3 + 8)
        #expect(Array(try checkpoint.bytes(named: "y")) == [7, 7, 7])
    }

    @Test("a shard named in weight_map but missing on disk is an incomplete download")
    func missingShard() throws {
        let folder = try makeCheckpoint()
        try FileManager.default.removeItem(atPath: folder + "/b.safetensors")
        #expect(throws: SafetensorsError.missingShard(index: folder + "/model.safetensors.index.json", shard: "b.safetensors")) {
            try SafetensorsCheckpoint(path: folder)
        }
    }

    @Test("weight_map pointing a tensor at the wrong shard is caught")
    func tensorMissingFromShard() throws {
        let folder = try makeCheckpoint()
        try editIndex(folder) { $0 = $0.replacingOccurrences(of: #""x": "a.safetensors""#, with: #""x": "b.safetensors""#) }
        #expect(
            throws: SafetensorsError.tensorMissingFromShard(
                index: folder + "/model.safetensors.index.json", tensor: "x", shard: "b.safetensors")
        ) {
            try SafetensorsCheckpoint(path: folder)
        }
    }

    @Test("a shard tensor absent from weight_map is caught")
    func tensorNotInIndex() throws {
        let folder = try makeCheckpoint()
        try editIndex(folder) { $0 = $0.replacingOccurrences(of: #""y": "a.safetensors","#, with: "") }
        #expect(throws: SafetensorsError.tensorNotInIndex(shard: folder + "/a.safetensors", tensor: "y")) {
            try SafetensorsCheckpoint(path: folder)
        }
    }

    @Test("the same tensor in two shards is caught")
    func tensorInTwoShards() throws {
        let folder = try makeCheckpoint()
        let w = try SafetensorsWriter(
            path: folder + "/b.safetensors",
            tensors: [
                TensorSpec(name: "z", dtype: .bf16, shape: [2, 2]),
                TensorSpec(name: "x", dtype: .f32, shape: [2]),
            ])
        try [UInt8](repeating: 1, count: 16).withUnsafeBytes { try w.write($0) }
        try w.finish()
        #expect(throws: SafetensorsError.tensorInTwoShards(tensor: "x", firstShard: "a.safetensors", secondShard: "b.safetensors")) {
            try SafetensorsCheckpoint(path: folder)
        }
    }

    @Test("an index whose weight_map is empty is unusable, not a model without tensors")
    func emptyWeightMap() throws {
        let folder = try makeCheckpoint()
        try #"{"metadata": {}, "weight_map": {}}"#.write(
            toFile: folder + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        #expect(
            throws: SafetensorsError.invalidIndex(
                file: folder + "/model.safetensors.index.json", reason: "'weight_map' is empty: the index names no tensor")
        ) {
            try SafetensorsCheckpoint(path: folder)
        }
    }

    @Test("a safetensors file the index never names is listed (a stale shard), and not read")
    func unindexedFile() throws {
        let folder = try makeCheckpoint()
        #expect(try SafetensorsCheckpoint(path: folder).unindexedFiles.isEmpty)
        try FileManager.default.copyItem(atPath: folder + "/b.safetensors", toPath: folder + "/model-00003-of-00003.safetensors")
        let checkpoint = try SafetensorsCheckpoint(path: folder)
        #expect(checkpoint.unindexedFiles == ["model-00003-of-00003.safetensors"])
        #expect(checkpoint.tensorNames == ["x", "y", "z"])
    }

    @Test("a folder holding an unfinished repack job says so and how to resume or discard it")
    func unfinishedRepackJob() throws {
        let folder = temporaryFolder()
        try "{}".write(toFile: folder + "/" + ModelLocation.repackJobFileName, atomically: true, encoding: .utf8)
        do {
            _ = try SafetensorsCheckpoint(path: folder)
            Issue.record("an unfinished job opened as a checkpoint")
        } catch let SafetensorsError.noCheckpoint(path, reason) {
            #expect(path == folder)
            #expect(reason.contains("unfinished `ingot repack` job") && reason.contains("resume") && reason.contains("discard"))
        }
    }

    @Test("a folder a killed writer left (a finished shard, a .partial one, no index) is an unfinished job, not a model")
    func unfinishedShardWriter() throws {
        let folder = try makeCheckpoint()
        try FileManager.default.removeItem(atPath: folder + "/model.safetensors.index.json")
        try FileManager.default.moveItem(atPath: folder + "/b.safetensors", toPath: folder + "/b.safetensors.partial-4242")
        do {
            _ = try SafetensorsCheckpoint(path: folder)
            Issue.record("one finished shard of an unfinished job opened as a single-file checkpoint")
        } catch let SafetensorsError.noCheckpoint(path, reason) {
            #expect(path == folder)
            #expect(reason.contains("unfinished job: b.safetensors.partial-4242") && reason.contains("delete"), "\(reason)")
        }
        let inflating = temporaryFolder()
        try Data().write(to: URL(fileURLWithPath: inflating + "/layer-001.bin.partial"))
        #expect(
            throws: SafetensorsError.noCheckpoint(
                path: inflating,
                reason: "an unfinished `ingot inflate` job (layer-001.bin.partial, no manifest.json yet): run it again into an emptied "
                    + "folder, or delete this one")
        ) { try SafetensorsCheckpoint(path: inflating) }
    }

    @Test("total_size that disagrees with the shards is caught")
    func totalSizeMismatch() throws {
        let folder = try makeCheckpoint()
        try editIndex(folder) { $0 = $0.replacingOccurrences(of: #""total_size": 19"#, with: #""total_size": 20"#) }
        #expect(throws: SafetensorsError.totalSizeMismatch(index: folder + "/model.safetensors.index.json", declared: 20, actual: 19)) {
            try SafetensorsCheckpoint(path: folder)
        }
    }

    @Test("shard names that leave the model folder are refused", arguments: ["../b.safetensors", "/etc/passwd", "sub/../../b.safetensors"])
    func shardPathEscapes(name: String) throws {
        let folder = try makeCheckpoint()
        try editIndex(folder) { $0 = $0.replacingOccurrences(of: #""z": "b.safetensors""#, with: "\"z\": \"\(name)\"") }
        #expect(throws: SafetensorsError.shardPathEscapes(index: folder + "/model.safetensors.index.json", shard: name, resolved: name)) {
            try SafetensorsCheckpoint(path: folder)
        }
    }

    @Test("a shard symlink that escapes the folder is refused")
    func symlinkEscapes() throws {
        let folder = try makeCheckpoint()
        let outside = temporaryFolder() + "/b.safetensors"
        try FileManager.default.moveItem(atPath: folder + "/b.safetensors", toPath: outside)
        try FileManager.default.createSymbolicLink(atPath: folder + "/b.safetensors", withDestinationPath: outside)
        #expect { try SafetensorsCheckpoint(path: folder) } throws: { error in
            if case SafetensorsError.shardPathEscapes(_, "b.safetensors", _) = error { return true } else { return false }
        }
    }

    @Test("a Hugging Face cache repository resolves through refs/main to a snapshot whose files link into blobs/")
    func huggingFaceCache() throws {
        let source = try makeCheckpoint()
        let repo = temporaryFolder() + "/models--org--name"
        let snapshot = repo + "/snapshots/abc123"
        let fm = FileManager.default
        try fm.createDirectory(atPath: repo + "/blobs", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: repo + "/refs", withIntermediateDirectories: true)
        try "abc123".write(toFile: repo + "/refs/main", atomically: true, encoding: .utf8)
        for (i, name) in ["a.safetensors", "b.safetensors", "model.safetensors.index.json"].enumerated() {
            try fm.moveItem(atPath: source + "/" + name, toPath: repo + "/blobs/blob\(i)")
            try fm.createSymbolicLink(atPath: snapshot + "/" + name, withDestinationPath: "../../blobs/blob\(i)")
        }
        let checkpoint = try SafetensorsCheckpoint(path: repo)
        #expect(checkpoint.location.folder == snapshot)
        #expect(checkpoint.tensorNames == ["x", "y", "z"])
    }

    @Test("several safetensors files without an index are refused as ambiguous; one alone is a single-file checkpoint")
    func noIndex() throws {
        let folder = try makeCheckpoint()
        try FileManager.default.removeItem(atPath: folder + "/model.safetensors.index.json")
        #expect(throws: SafetensorsError.self) { try SafetensorsCheckpoint(path: folder) }
        try FileManager.default.removeItem(atPath: folder + "/b.safetensors")
        #expect(try SafetensorsCheckpoint(path: folder).tensorNames == ["x", "y"])
        #expect(try SafetensorsCheckpoint(path: folder + "/a.safetensors").tensorNames == ["x", "y"])
    }
}
