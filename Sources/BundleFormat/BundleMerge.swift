public import Foundation
public import TensorIO

/// `ingot merge`: assembles the slices of `repack --shard i/n` into one bundle, byte-identical to a single run.
public enum BundleMerge {
    /// Checks that the slices are 1…n of one job, each complete, then links (or copies) their units into
    /// `output` and writes the manifest.
    ///
    /// - Throws: ``BundleError/slicesDoNotMatch(reason:)`` naming what is wrong.
    public static func merge(slices: [String], output: String, checkSpace: Bool = true) throws {
        var identity: JSONValue?
        var seen: [Int: String] = [:]
        var count = 0
        for slice in slices {
            let record = try BundleAssembler.readJSON(slice + "/repack.json")
            guard let index = record["slice"]?.intValue, let n = record["slices"]?.intValue else {
                throw BundleError.slicesDoNotMatch(reason: "\(slice)/repack.json has no slice number")
            }
            let job = JSONValue.object((record.members ?? []).filter { $0.key != "slice" })
            if let identity, identity != job {
                throw BundleError.slicesDoNotMatch(reason: "\(slice) comes from another source or other options than \(slices[0])")
            }
            identity = job
            count = n
            if let other = seen[index] { throw BundleError.slicesDoNotMatch(reason: "\(slice) and \(other) are both slice \(index)") }
            seen[index] = slice
        }
        guard count > 0, seen.count == count, Set(seen.keys) == Set(1...count) else {
            throw BundleError.slicesDoNotMatch(reason: "have slices \(seen.keys.sorted()) of \(count)")
        }
        let first = slices[0]
        let source = try BundleAssembler.readJSON(first + "/source.json")
        let layers = source["layers"]?.intValue ?? 0
        let units = ["globals"] + (0..<layers).map { "layer-" + String(repeating: "0", count: max(0, 3 - String($0).count)) + String($0) }
        let fm = FileManager.default
        try AtomicFile.requireNewOrEmptyFolder(output)
        if checkSpace {
            // Slices on the output's filesystem are linked, not copied (docs/operations.md, "Space").
            var needed = DiskSpace.smallFilesAllowance
            for (i, unit) in units.enumerated() {
                guard let slice = seen[i % count + 1], !DiskSpace.sameFilesystem(slice, output) else { continue }
                for name in [unit + ".bin", unit + ".json"] {
                    needed += (try? fm.attributesOfItem(atPath: slice + "/" + name)[.size] as? Int) ?? 0
                }
            }
            try DiskSpace.require(needed, at: output, for: "the merged bundle")
        }
        try fm.createDirectory(atPath: output + "/files", withIntermediateDirectories: true)
        for (i, unit) in units.enumerated() {
            guard let slice = seen[i % count + 1] else { continue }
            for name in [unit + ".bin", unit + ".json"] {
                guard fm.fileExists(atPath: slice + "/" + name) else {
                    throw BundleError.slicesDoNotMatch(reason: "\(slice) is missing \(name); re-run its repack to finish it")
                }
                try AtomicFile.linkOrCopy(slice + "/" + name, to: output + "/" + name)
            }
        }
        for name in try fm.contentsOfDirectory(atPath: first + "/files") {
            try AtomicFile.linkOrCopy(
                BundleReader.filesFolder(of: first) + "/" + name, to: BundleReader.filesFolder(of: output) + "/" + name)
        }
        try AtomicFile.linkOrCopy(first + "/source.json", to: output + "/source.json")
        try BundleAssembler.finalize(folder: output, units: units)
    }
}
