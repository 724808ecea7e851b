// libFuzzer targets (`make fuzz`). Built with -DFUZZING -sanitize=fuzzer, libFuzzer supplies main() and calls
// LLVMFuzzerTestOneInput; the target is chosen by the INGOT_FUZZ_TARGET environment variable:
//   safetensors  the safetensors header parser and the index parser (one input, both readers)
//   bundle      the bundle manifest parser and the data-file extent checker: input = 4-byte LE manifest length,
//               manifest bytes, then data-file bytes checked against every data file the manifest lists
// Without FUZZING this is a tiny program that says how to build it, so ordinary builds need no fuzzer runtime.
import BundleFormat
import Foundation
import TensorIO

func fuzzOne(_ bytes: UnsafeRawBufferPointer) {
    if ProcessInfo.processInfo.environment["INGOT_FUZZ_TARGET"] == "bundle" {
        guard bytes.count >= 4 else { return }
        let n = Int(bytes.loadUnaligned(as: UInt32.self).littleEndian)
        guard n <= bytes.count - 4 else { return }
        let manifest = UnsafeRawBufferPointer(rebasing: bytes[4..<(4 + n)])
        let data = UnsafeRawBufferPointer(rebasing: bytes[(4 + n)...])
        let sha = "\(SHA256Hex.of(manifest))  manifest.json\n"  // get past the checksum to reach the parser
        guard let m = try? BundleReader.validateManifest(manifest, shaText: sha, folder: "fuzz") else { return }
        for f in m.dataFiles { _ = BundleVerifier.checkDataFile(data, entry: f, manifest: m, path: f.name) }
    } else {
        _ = try? SafetensorsHeader(parsing: bytes, file: "fuzz")
        _ = try? SafetensorsCheckpoint.parseIndex(bytes, path: "fuzz")
    }
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }

    /// libFuzzer's driver (in the runtime that -sanitize=fuzzer links).
    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable through the entry point `<target>_main`; hand it to libFuzzer.
    @_cdecl("ingot_fuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var vector = argv
        return runDriver(&count, &vector) { data, size in fuzzerTestOneInput(data, size) }
    }
#else
    @main
    enum FuzzNotBuilt {
        static func main() {
            // Replays inputs given as arguments (corpus files, crash reproducers) without the fuzzer.
            for path in CommandLine.arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                data.withUnsafeBytes { fuzzOne($0) }
                print("ok \(path)")
            }
            if CommandLine.arguments.count == 1 { print("ingot-fuzz: build with `make fuzz`; arguments are inputs to replay") }
        }
    }
#endif
