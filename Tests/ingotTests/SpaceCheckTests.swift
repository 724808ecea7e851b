import Foundation
import TensorIO
import TestSupport
import Testing

/// A tmpfs of a few MiB mounted for the test (needs root, as CI has); unmounted when the suite ends.
final class SmallFilesystem: Sendable {
    let path: String

    /// Mounts a tmpfs of `megabytes` MiB, or nil when the machine refuses (not root, no tmpfs).
    init?(megabytes: Int) {
        let path = temporaryFolder("ingot-small-fs")
        guard (try? shell("mount -t tmpfs -o size=\(megabytes)m tmpfs '\(path)'"))?.status == 0 else { return nil }
        self.path = path
    }

    deinit { _ = try? shell("umount '\(path)'") }

    /// The entries the tmpfs holds.
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }

    /// Whether this machine lets a test mount a tmpfs (root, tmpfs support).
    static let mountable: Bool = SmallFilesystem(megabytes: 1) != nil
}

/// Commands that write large outputs refuse at once, before writing anything, when the output cannot fit
/// (docs/operations.md, "Space"), and `--no-space-check` lets them try.
@Suite(
    "preflight: free space", .serialized,
    .enabled(if: SmallFilesystem.mountable, "mounting a small tmpfs needs root; this machine refuses, so the preflight is untested here"))
struct SpaceCheckTests {
    static let int4 = fixturesFolder() + "/k2-mini/int4"
    static let bf16 = fixturesFolder() + "/k2-mini/bf16"

    /// A raw and a zstd bundle of the k2-mini INT4 checkpoint, and two repack slices of it, on the ordinary disk.
    static let bundles: (raw: String, zstd: String, slices: [String]) = {
        let folder = temporaryFolder()
        let raw = folder + "/raw.bundle", zstd = folder + "/zstd.bundle"
        _ = try? runIngot(["repack", int4, "-o", raw, "--quiet"])
        _ = try? runIngot(["repack", int4, "-o", zstd, "--compress", "zstd", "--quiet"])
        let slices = (1...2).map { folder + "/slice\($0)" }
        for (i, s) in slices.enumerated() { _ = try? runIngot(["repack", int4, "-o", s, "--shard", "\(i + 1)/2", "--quiet"]) }
        return (raw, zstd, slices)
    }()

    @Test(
        "a job that cannot fit is refused at once with exit 3, naming both sizes, and writes nothing",
        arguments: [
            "synth", "repack", "repack-zstd", "export-gguf", "unpack", "inflate", "quantize", "merge",
        ])
    func refused(command: String) throws {
        let fs = try #require(SmallFilesystem(megabytes: 2))
        let out = fs.path + "/out"
        let arguments: [String] =
            switch command {
            case "synth": ["synth", "--preset", "small", "-o", out]
            case "repack": ["repack", Self.int4, "-o", out]
            case "repack-zstd": ["repack", Self.int4, "-o", out, "--compress", "zstd"]
            case "export-gguf": ["export", "gguf", Self.int4, "-o", out + ".gguf"]
            case "unpack": ["unpack", Self.bundles.raw, "-o", out]
            case "inflate": ["inflate", Self.bundles.zstd, "-o", out]
            case "quantize": ["quantize", Self.bf16, "-o", out]
            default: ["merge"] + Self.bundles.slices + ["-o", out]
            }
        let r = try runIngot(arguments + ["--quiet"].filter { _ in command != "merge" })
        #expect(r.status == 3, "\(command): \(r.err)")
        #expect(
            r.err.contains("not enough space for") && r.err.contains("the filesystem has") && r.err.contains("--no-space-check"), "\(r.err)"
        )
        #expect(fs.contents.isEmpty, "\(command) wrote \(fs.contents)")
    }

    @Test("the bound is not absurd: a repack that fits runs; --no-space-check starts a job that then runs out of space")
    func fitsAndOverride() throws {
        let roomy = try #require(SmallFilesystem(megabytes: 24))
        let fits = try runIngot(["repack", Self.int4, "-o", roomy.path + "/b", "--quiet"])
        #expect(fits.status == 0, "\(fits.err)")
        let small = try #require(SmallFilesystem(megabytes: 2))
        let tried = try runIngot(["repack", Self.int4, "-o", small.path + "/b", "--quiet", "--no-space-check"])
        #expect(tried.status == 3 && !tried.err.contains("not enough space for"), "\(tried.err)")
        #expect(!FileManager.default.fileExists(atPath: small.path + "/b/manifest.json"))
    }

    @Test("free space is read from the nearest existing folder, and a shortfall names both figures")
    func library() throws {
        let fs = try #require(SmallFilesystem(megabytes: 2))
        let free = try #require(DiskSpace.available(at: fs.path + "/not/yet/made"))
        #expect(free > 1 << 20 && free <= 2 << 20)
        #expect(throws: InsufficientSpaceError.self) { try DiskSpace.require(3 << 20, at: fs.path + "/x", for: "a test") }
        try DiskSpace.require(1 << 20, at: fs.path + "/x", for: "a test")
        #expect(!DiskSpace.sameFilesystem(fs.path, NSTemporaryDirectory()))
    }
}
