import BundleFormat
import Checkpoint
import Foundation
import Synchronization
import TensorIO
import TestSupport
import Testing

/// Every file of `a` and `b` (recursively) has the same bytes.
func sameTree(_ a: String, _ b: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let fm = FileManager.default
    let left = try fm.subpathsOfDirectory(atPath: a).sorted(), right = try fm.subpathsOfDirectory(atPath: b).sorted()
    #expect(left == right, sourceLocation: sourceLocation)
    for p in left {
        var isDirectory: ObjCBool = false
        fm.fileExists(atPath: a + "/" + p, isDirectory: &isDirectory)
        if isDirectory.boolValue { continue }
        #expect(fm.contentsEqual(atPath: a + "/" + p, andPath: b + "/" + p), "\(p) differs", sourceLocation: sourceLocation)
    }
}

@Suite("bundle: repack, unpack, inflate, merge, resume")
struct BundleTests {
    func repack(_ source: String, _ options: BundleRepacker.Options = .init()) throws -> String {
        let out = temporaryFolder() + "/bundle"
        _ = try BundleRepacker.run(source: source, output: out, options: options)
        return out
    }

    @Test("raw and compressed round trips give back every file of the source byte for byte", arguments: [false, true])
    func roundTrip(compressed: Bool) throws {
        let source = try tinyCheckpoint(seed: 21)
        let bundle = try repack(source, .init(compression: compressed ? .zstd(level: 3) : .none))
        #expect(try BundleVerifier.run(folder: bundle).ok)
        let back = temporaryFolder() + "/back"
        try BundleUnpacker.unpack(bundle: bundle, output: back)
        try sameTree(source, back)
    }

    @Test("unpack's progress never passes its total (each expert counted once)", arguments: [false, true])
    func unpackProgressBounded(compressed: Bool) throws {
        let bundle = try repack(try tinyCheckpoint(seed: 22), .init(compression: compressed ? .zstd(level: 3) : .none))
        let seen = Mutex<[(Int, Int)]>([])
        try BundleUnpacker.unpack(bundle: bundle, output: temporaryFolder() + "/back") { done, total in
            seen.withLock { $0.append((done, total)) }
        }
        let reports = seen.withLock { $0 }
        #expect(!reports.isEmpty)
        #expect(reports.allSatisfy { $0.0 <= $0.1 })
    }

    @Test("dense tensors copied in the kernel (copy_file_range) or through buffers give the same bundle")
    func kernelCopyAndBufferedCopyAgree() throws {
        let source = try tinyCheckpoint(seed: 21)
        var buffered = BundleRepacker.Options()
        buffered.kernelCopy = false
        try sameTree(try repack(source), try repack(source, buffered))
    }

    @Test(
        "expert extents written with O_DIRECT or through the page cache give the same bundle, raw and compressed",
        arguments: [false, true])
    func directAndBufferedWritesAgree(compressed: Bool) throws {
        let source = try tinyCheckpoint(seed: 23)
        var direct = BundleRepacker.Options(compression: compressed ? .zstd(level: 3) : .none)
        direct.directWrites = true
        var buffered = direct
        buffered.directWrites = false
        let a = try repack(source, direct), b = try repack(source, buffered)
        try sameTree(a, b)
        #expect(try BundleVerifier.run(folder: a).ok)
    }

    @Test("the source reader hands out a byte range in order, in pieces, and fails on a file that ends early")
    func rangeReader() throws {
        let path = temporaryFolder() + "/range.bin"
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        for (offset, count, chunk) in [(0, 10_000, 1000), (123, 9_000, 4096), (5, 7, 64), (0, 0, 16)] {
            let reader = RangeReader(fd: fd, path: path, offset: offset, count: count, chunkBytes: chunk, depth: 2)
            var got: [UInt8] = []
            while let c = try reader.next() {
                #expect(c.count <= chunk)
                got += c.bytes
                reader.recycle(c)
            }
            reader.stop()
            #expect(got == Array(bytes[offset..<(offset + count)]))
        }
        let short = RangeReader(fd: fd, path: path, offset: 9_000, count: 2_000, chunkBytes: 512, depth: 2)
        #expect(throws: FileError.self) {
            while let c = try short.next() { short.recycle(c) }
        }
        short.stop()
    }

    @Test("the bundle is deterministic, and inflating a compressed bundle gives the raw bundle byte for byte")
    func inflateEqualsRaw() throws {
        let source = try tinyCheckpoint(seed: 22)
        let raw = try repack(source), again = try repack(source)
        try sameTree(raw, again)
        let inflated = temporaryFolder() + "/inflated"
        try BundleUnpacker.inflate(bundle: try repack(source, .init(compression: .zstd(level: 5))), output: inflated)
        try sameTree(raw, inflated)
    }

    @Test("slices merged in any order equal a single run; incomplete or mixed slices are refused")
    func shardAndMerge() throws {
        let source = try tinyCheckpoint(seed: 23)
        let single = try repack(source)
        let slices = try (1...3).map { i in try repack(source, .init(shard: (i, 3))) }
        let merged = temporaryFolder() + "/merged"
        try BundleMerge.merge(slices: [slices[2], slices[0], slices[1]], output: merged)
        try sameTree(single, merged)
        #expect(throws: BundleError.self) { try BundleMerge.merge(slices: [slices[0], slices[1]], output: temporaryFolder() + "/m2") }
        let other = try repack(source, .init(compression: .zstd(level: 3), shard: (3, 3)))
        #expect(throws: BundleError.self) {
            try BundleMerge.merge(slices: [slices[0], slices[1], other], output: temporaryFolder() + "/m3")
        }
    }

    @Test("an expert order from a usage profile is applied and recorded; unpack is unaffected")
    func expertOrder() throws {
        let source = try tinyCheckpoint(seed: 24)
        let profile = temporaryFolder() + "/profile.json"
        try #"{"layers": {"1": [0, 5, 1, 9, 9, 0, 2, 3], "2": [1, 1, 1, 1, 1, 1, 1, 8]}}"#.write(
            toFile: profile, atomically: true, encoding: .utf8)
        let bundle = try repack(source, .init(expertOrderPath: profile))
        let reader = try BundleReader(folder: bundle)
        #expect(reader.manifest.expertOrder.first { $0.layer == 1 }?.order == [3, 4, 1, 7, 6, 2, 0, 5])
        #expect(reader.manifest.expertOrder.first { $0.layer == 2 }?.order == [7, 0, 1, 2, 3, 4, 5, 6])
        let offsets = [3, 4, 1].map { reader.expert(layer: 1, expert: $0)!.offset }
        #expect(offsets == offsets.sorted(), "hottest experts come first in the file")
        let back = temporaryFolder() + "/back"
        try BundleUnpacker.unpack(bundle: bundle, output: back)
        try sameTree(source, back)
        try "{\"layers\": {\"0\": [1]}}".write(toFile: profile, atomically: true, encoding: .utf8)
        #expect(throws: BundleError.self) { try repack(source, .init(expertOrderPath: profile)) }
    }

    /// A crash can leave: a journal shorter than the data, a torn last journal line, garbage after the last synced
    /// extent. Each case is built from a finished unit and must resume to identical bytes.
    @Test("a unit interrupted at any extent (with a torn journal line and trailing garbage) resumes to identical bytes")
    func resumeFromJournal() throws {
        let source = try tinyCheckpoint(seed: 25)
        let reference = try repack(source, .init(syncBytes: 1))
        let reader = try BundleReader(folder: reference)
        let layer = "layer-001"
        let data = try Data(contentsOf: URL(fileURLWithPath: reference + "/\(layer).bin"))
        var extents = reader.manifest.tensors.filter { $0.file == layer + ".bin" }.map { ($0.offset, $0.storedBytes, $0.bytes, $0.sha256) }
        extents += reader.manifest.experts.filter { $0.file == layer + ".bin" }.map { ($0.offset, $0.storedBytes, $0.bytes, $0.sha256) }
        extents.sort { $0.0 < $1.0 }
        for cut in [0, 1, extents.count / 2, extents.count - 1] {
            let folder = temporaryFolder() + "/resume"
            // Start a sliced run (units are globals 0, layer-000 1, layer-001 2: slice 3 of 4) so nothing else is
            // written, then fake its crash.
            let options = BundleRepacker.Options(shard: (3, 4), syncBytes: 1)
            _ = try BundleRepacker.run(source: source, output: folder, options: options)
            try FileManager.default.removeItem(atPath: folder + "/\(layer).bin")
            try FileManager.default.removeItem(atPath: folder + "/\(layer).json")
            let end = cut == 0 ? 0 : extents[cut - 1].0 + extents[cut - 1].1
            var partial = data.prefix(end)
            partial.append(contentsOf: [UInt8](repeating: 0x5A, count: 777))  // bytes written but never journaled
            try partial.write(to: URL(fileURLWithPath: folder + "/\(layer).bin.partial"))
            var journal = extents.prefix(cut).enumerated().map {
                "\($0.offset) \($0.element.0) \($0.element.1) \($0.element.2) \($0.element.3)\n"
            }.joined()
            journal += "\(cut) 99999"  // a torn line
            try journal.write(toFile: folder + "/\(layer).journal", atomically: true, encoding: .utf8)
            let summary = try BundleRepacker.run(source: source, output: folder, options: options)
            #expect(summary.extentsResumed == cut)
            #expect(try Data(contentsOf: URL(fileURLWithPath: folder + "/\(layer).bin")) == data, "cut at \(cut)")
        }
    }

    @Test("a folder holding another job is refused; a bad source is refused with its findings")
    func refusals() throws {
        let source = try tinyCheckpoint(seed: 26)
        let folder = temporaryFolder() + "/job"
        _ = try BundleRepacker.run(source: source, output: folder, options: .init(shard: (1, 2)))
        #expect(throws: BundleError.self) {
            try BundleRepacker.run(source: source, output: folder, options: .init(compression: .zstd(level: 3), shard: (1, 2)))
        }
        try editFile(source + "/config.json", replacing: #""n_routed_experts": 8"#, with: #""n_routed_experts": 9"#)
        #expect { try BundleRepacker.run(source: source, output: temporaryFolder() + "/x", options: .init()) } throws: { error in
            if case BundleError.inputHasFindings(_, let findings) = error { return findings.contains { $0.contains("missing") } }
            return false
        }
        let bf16 = temporaryFolder() + "/bf16"
        try SyntheticCheckpoint.write(to: bf16, options: .init(preset: .tiny, form: .bf16), threads: 2)
        #expect(throws: BundleError.self) { try BundleRepacker.run(source: bf16, output: temporaryFolder() + "/y", options: .init()) }
    }
}

@Suite("bundle: a kill after the manifest")
struct BundleCleanupTests {
    /// finalize writes manifest.json, then removes fragments, source.json and repack.json (last). A kill in between
    /// leaves a complete bundle with job files; the same command must finish the clean-up and change nothing else.
    @Test("a re-run removes the job files left behind and leaves the bundle unchanged")
    func cleanupAfterManifest() throws {
        let source = try tinyCheckpoint(seed: 27)
        let bundle = temporaryFolder() + "/b"
        _ = try BundleRepacker.run(source: source, output: bundle, options: .init())
        // A 1-of-1 slice records the same job (repack.json) without finalizing: take its job files.
        let slice = temporaryFolder() + "/s"
        _ = try BundleRepacker.run(source: source, output: slice, options: .init(shard: (1, 1)))
        let reference = temporaryFolder() + "/ref"
        try FileManager.default.copyItem(atPath: bundle, toPath: reference)
        for name in ["repack.json", "source.json", "globals.json", "layer-001.json"] {
            try FileManager.default.copyItem(atPath: slice + "/" + name, toPath: bundle + "/" + name)
        }
        let summary = try BundleRepacker.run(source: source, output: bundle, options: .init())
        #expect(summary.finalized && summary.unitsWritten == 0)
        try sameTree(reference, bundle)
        // A clean, complete bundle is not a job to finish: refused.
        #expect(throws: BundleError.self) { try BundleRepacker.run(source: source, output: bundle, options: .init()) }
    }
}
