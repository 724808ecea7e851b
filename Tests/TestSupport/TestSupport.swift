public import Checkpoint
public import Foundation
public import TensorIO

/// A safetensors file image: 8-byte length, the header text exactly as given, then `dataBytes` bytes.
public func fileImage(header: String, dataBytes: Int, fill: UInt8 = 0) -> [UInt8] {
    var length = UInt64(header.utf8.count).littleEndian
    return withUnsafeBytes(of: &length) { Array($0) } + Array(header.utf8) + [UInt8](repeating: fill, count: dataBytes)
}

/// A fresh empty folder under the system temporary directory.
public func temporaryFolder(_ label: String = "ingot-test") -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(label)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes `bytes` to a new file in a fresh folder and returns its path.
public func writeTemporaryFile(_ bytes: [UInt8], name: String = "t.safetensors") -> String {
    let path = (temporaryFolder() as NSString).appendingPathComponent(name)
    precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot create \(path)")
    return path
}

/// A synthetic K2-form checkpoint (the code behind `ingot synth`) in a fresh folder.
public func tinyCheckpoint(
    preset: SyntheticCheckpoint.Preset = .tiny, layers: Int? = nil, experts: Int? = nil,
    seed: UInt64 = 0
) throws -> String {
    let folder = temporaryFolder("ingot-synth")
    try SyntheticCheckpoint.write(to: folder, options: .init(preset: preset, layers: layers, experts: experts, seed: seed), threads: 2)
    return folder
}

/// The repository's fixtures/ folder, found from this file's path.
public func fixturesFolder(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file)
    while url.path != "/" {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("fixtures")
        if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("scripts").path) { return candidate.path }
    }
    preconditionFailure("fixtures/ not found above \(file)")
}

/// The repository root.
public func repositoryRoot(_ file: String = #filePath) -> String {
    (fixturesFolder(file) as NSString).deletingLastPathComponent
}

/// Every file of a folder, sorted, with its bytes (for hashing whole outputs).
public func folderContents(_ folder: String) throws -> [(name: String, bytes: Data)] {
    try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { name in
        (name, try Data(contentsOf: URL(fileURLWithPath: (folder as NSString).appendingPathComponent(name))))
    }
}

/// A standard normal draw (Box–Muller) from a seeded generator.
public func normal(_ rng: inout SplitMix64) -> Float {
    let u1 = Double(rng.next() >> 11) / Double(1 << 53) + 1e-12
    let u2 = Double(rng.next() >> 11) / Double(1 << 53)
    return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
}

/// Runs `command` with /bin/sh; returns its exit status and standard output (standard error is discarded).
@discardableResult
public func shell(_ command: String) throws -> (status: Int32, out: String) {
    let process = Process()
    let pipe = Pipe()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
