public import Foundation

/// A job that would not fit: refused before it writes anything (docs/operations.md, "Space").
public struct InsufficientSpaceError: Error, Equatable, Sendable, LocalizedError {
    /// What was to be written, and where.
    public var job: String
    public var path: String
    /// Bytes the job still has to write (at most), and bytes free for this user on the target filesystem.
    public var needed: Int
    public var available: Int

    public var errorDescription: String? {
        "not enough space for \(job) at \(path): it needs up to \(formatBytes(needed)), the filesystem has \(formatBytes(available)) "
            + "free; free some space or write elsewhere (--no-space-check starts anyway)"
    }
}

/// Free space where an output will go, checked before a long job starts (docs/operations.md, "Space").
public enum DiskSpace {
    /// Bytes an unprivileged writer may still use on the filesystem that holds `path` (or would hold it: the nearest
    /// existing ancestor is asked); nil when the system cannot tell.
    public static func available(at path: String) -> Int? {
        var s = statvfs()
        guard statvfs(existingAncestor(path), &s) == 0 else { return nil }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    /// True when `a` and the place `b` would be created in are on one filesystem (a hard link can join them).
    public static func sameFilesystem(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(existingAncestor(b), &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev
    }

    /// `path` itself when it exists, else its nearest existing ancestor ("." at worst).
    static func existingAncestor(_ path: String) -> String {
        var probe = (path as NSString).standardizingPath
        if probe.isEmpty { probe = "." }
        while !FileManager.default.fileExists(atPath: probe) {
            let parent = (probe as NSString).deletingLastPathComponent
            if parent == probe || parent.isEmpty { return "." }
            probe = parent
        }
        return probe
    }

    /// Throws when `needed` bytes (an upper bound of what a job still writes under `path`) exceed the free space.
    /// Does nothing when the free space cannot be read.
    public static func require(_ needed: Int, at path: String, for job: String) throws(InsufficientSpaceError) {
        guard let free = available(at: path), needed > free else { return }
        throw InsufficientSpaceError(job: job, path: path, needed: needed, available: free)
    }
}

extension DiskSpace {
    /// An upper bound of the bytes a safetensors file of `specs` takes: the data plus a header of at most the
    /// tensor's name and 128 bytes of JSON per tensor, its length prefix and padding.
    public static func safetensorsBound(_ specs: [TensorSpec]) -> Int {
        specs.reduce(8 + 4096) { $0 + $1.byteCount + $1.name.utf8.count + 128 }
    }

    /// Room for the small files a job writes beside the data (config.json, journals, manifests, index).
    public static let smallFilesAllowance = 1 << 20

    /// The bytes of the regular files in `folder` that are not safetensors data (the companion files a job copies:
    /// config, tokenizer, chat template); symbolic links are followed.
    public static func companionBytes(in folder: String) -> Int {
        let fm = FileManager.default
        var total = 0
        for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where !name.hasSuffix(".safetensors") && !name.hasPrefix(".") {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let a = try? fm.attributesOfItem(atPath: ModelLocation.realPath(path)), a[.type] as? FileAttributeType == .typeRegular
            else { continue }
            total += (a[.size] as? Int) ?? 0
        }
        return total
    }
}
