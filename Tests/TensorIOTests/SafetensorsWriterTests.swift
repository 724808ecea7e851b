import Foundation
import TensorIO
import TestSupport
import Testing

@Suite("safetensors writer and golden files")
struct SafetensorsWriterTests {
    func write(_ tensors: [(TensorSpec, [UInt8])], metadata: [String: String] = [:], to path: String) throws {
        let writer = try SafetensorsWriter(path: path, tensors: tensors.map(\.0), metadata: metadata)
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.0.name, $0.1) })
        for spec in writer.order { try byName[spec.name]!.withUnsafeBytes { try writer.write($0) } }
        try writer.finish()
    }

    @Test("write → read round trip keeps every byte, with the header padded to 8")
    func roundTrip() throws {
        var rng = SystemRandomNumberGenerator()
        let specs = [
            TensorSpec(name: "a", dtype: .bf16, shape: [3, 5]), TensorSpec(name: "b", dtype: .i32, shape: [7]),
            TensorSpec(name: "c", dtype: .u8, shape: [0]), TensorSpec(name: "d", dtype: .f64, shape: []),
            TensorSpec(name: "e", dtype: .f4, shape: [6]),
        ]
        let tensors = specs.map { s in (s, (0..<s.byteCount).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
        let path = (temporaryFolder() as NSString).appendingPathComponent("x.safetensors")
        try write(tensors, metadata: ["format": "pt"], to: path)
        let file = try SafetensorsFile(path: path)
        #expect(file.header.dataStart % 8 == 0)
        #expect(file.header.metadata.map(\.key) == ["format"])
        for (spec, bytes) in tensors {
            #expect(Array(try file.bytes(named: spec.name)) == bytes)
            #expect(file.info(spec.name)?.shape == spec.shape)
        }
        #expect(!FileManager.default.fileExists(atPath: path + ".partial-\(getpid())"))
    }

    @Test("a file written by Python's safetensors package reads identically, and ingot writes the same bytes")
    func pythonGolden() throws {
        let folder = (fixturesFolder() as NSString).appendingPathComponent("safetensors")
        let golden = try JSONValue.parse(String(contentsOfFile: folder + "/python_written.json", encoding: .utf8))
        let file = try SafetensorsFile(path: folder + "/python_written.safetensors")
        #expect(file.header.metadata.map { "\($0.key)=\($0.value)" } == ["format=pt"])
        var rebuilt: [(TensorSpec, [UInt8])] = []
        for (name, entry) in golden["tensors"]!.members! {
            let info = try #require(file.info(name))
            #expect(info.dtype.rawValue == entry["dtype"]!.stringValue)
            #expect(info.shape == entry["shape"]!.elements!.map { $0.intValue! })
            let values = entry["values"]!.elements!
            if info.dtype.isConvertibleToFloat {
                #expect(try file.floats(named: name).map(Double.init) == values.map { $0.doubleValue! })
            } else {
                #expect(try file.integers(named: name) == values.map { $0.intValue! })
            }
            rebuilt.append((TensorSpec(name: name, dtype: info.dtype, shape: info.shape), Array(file.bytes(of: info))))
        }
        let path = (temporaryFolder() as NSString).appendingPathComponent("again.safetensors")
        try write(rebuilt, metadata: ["format": "pt"], to: path)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: path))
                == Data(contentsOf: URL(fileURLWithPath: folder + "/python_written.safetensors")))
    }

    @Test("too many bytes, or too few at finish, is an error and leaves no file under the final name")
    func wrongByteCounts() throws {
        let path = (temporaryFolder() as NSString).appendingPathComponent("bad.safetensors")
        do {
            let writer = try SafetensorsWriter(path: path, tensors: [TensorSpec(name: "w", dtype: .f32, shape: [2])])
            try [UInt8](repeating: 0, count: 4).withUnsafeBytes { try writer.write($0) }
            #expect(throws: SafetensorsError.wrongByteCount(file: path, tensor: "w", expectedBytes: 8, actualBytes: 4)) {
                try writer.finish()
            }
            #expect(throws: SafetensorsError.self) { try [UInt8](repeating: 0, count: 9).withUnsafeBytes { try writer.write($0) } }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
        #expect(leftovers.isEmpty, "temporary file removed when the writer is dropped: \(leftovers)")
    }

    @Test("duplicate names cannot be written")
    func duplicateNames() {
        #expect(throws: SafetensorsError.duplicateTensor(file: "f", tensor: "w")) {
            _ = try SafetensorsWriter.header(
                for: [TensorSpec(name: "w", dtype: .u8, shape: [1]), TensorSpec(name: "w", dtype: .u8, shape: [1])],
                metadata: [:], file: "f")
        }
    }
}
