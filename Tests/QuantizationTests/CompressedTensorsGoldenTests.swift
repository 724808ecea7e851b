import Foundation
import Quantization
import TensorIO
import TestSupport
import Testing

/// Bit-exact agreement with the compressed-tensors library (fixtures/scripts/make_quantization_golden.py).
@Suite("compressed-tensors golden vectors")
struct CompressedTensorsGoldenTests {
    struct Case: Sendable, CustomStringConvertible {
        let name: String, bits: Int, symmetric: Bool, groupSize: Int, rows: Int, columns: Int
        var description: String { name }
    }

    static let folder = fixturesFolder() + "/quantization"
    static let cases: [Case] = {
        guard let json = try? JSONValue.parse(String(contentsOfFile: folder + "/ct_golden.json", encoding: .utf8)) else { return [] }
        return (json["cases"]?.elements ?? []).map {
            Case(
                name: $0["name"]!.stringValue!, bits: $0["bits"]!.intValue!, symmetric: $0["symmetric"]!.boolValue!,
                groupSize: $0["group_size"]!.intValue!, rows: $0["rows"]!.intValue!, columns: $0["columns"]!.intValue!)
        }
    }()

    func int8s(_ file: SafetensorsFile, _ name: String) throws -> [Int8] { try file.integers(named: name).map { Int8($0) } }
    func int32s(_ file: SafetensorsFile, _ name: String) throws -> [Int32] { try file.integers(named: name).map { Int32($0) } }

    @Test("the golden file holds every case")
    func casesPresent() { #expect(Self.cases.count == 9) }

    @Test("round-to-nearest quantization equals the library's levels, scales and zero points bit for bit", arguments: cases)
    func quantize(c: Case) throws {
        let file = try SafetensorsFile(path: Self.folder + "/ct_golden.safetensors")
        let x = try file.floats(named: "\(c.name).x")
        let quantizer = GroupQuantizer(bits: c.bits, groupSize: c.groupSize, symmetric: c.symmetric)
        let out = try quantizer.quantize(x, rows: c.rows, columns: c.columns)
        #expect(out.q == (try int8s(file, "\(c.name).q")))
        #expect(out.scales.map(\.bitPattern) == (try file.floats(named: "\(c.name).scale")).map(\.bitPattern))
        if !c.symmetric { #expect(out.zeroPoints == (try int8s(file, "\(c.name).zp"))) }
    }

    @Test("packing equals pack_to_int32 (weights along dim 1, zero points along dim 0), and unpacking inverts it", arguments: cases)
    func pack(c: Case) throws {
        let file = try SafetensorsFile(path: Self.folder + "/ct_golden.safetensors")
        let q = try int8s(file, "\(c.name).q")
        let packed = try int32s(file, "\(c.name).packed")
        #expect(PackQuantized.pack(q, rows: c.rows, columns: c.columns, bits: c.bits) == packed)
        #expect(PackQuantized.unpack(packed, rows: c.rows, columns: c.columns, bits: c.bits) == q)
        if !c.symmetric {
            let zp = try int8s(file, "\(c.name).zp")
            let groups = c.columns / c.groupSize
            let packedZP = try int32s(file, "\(c.name).packed_zp")
            #expect(PackQuantized.packZeroPoints(zp, rows: c.rows, groups: groups, bits: c.bits) == packedZP)
            #expect(PackQuantized.unpackZeroPoints(packedZP, rows: c.rows, groups: groups, bits: c.bits) == zp)
        }
    }

    @Test("BF16-product dequantization equals the library's; the exact f32 product differs only by that rounding", arguments: cases)
    func dequantize(c: Case) throws {
        let file = try SafetensorsFile(path: Self.folder + "/ct_golden.safetensors")
        let q = try int8s(file, "\(c.name).q")
        let scales = try file.floats(named: "\(c.name).scale")
        let zp = c.symmetric ? nil : try int8s(file, "\(c.name).zp")
        let golden = try file.floats(named: "\(c.name).dequant")
        let bf16 = Dequantize.weights(
            q: q, scales: scales, zeroPoints: zp, rows: c.rows, columns: c.columns, groupSize: c.groupSize,
            rounding: .bf16Product)
        #expect(bf16.map(\.bitPattern) == golden.map(\.bitPattern))
        let exact = Dequantize.weights(q: q, scales: scales, zeroPoints: zp, rows: c.rows, columns: c.columns, groupSize: c.groupSize)
        for (e, g) in zip(exact, golden) where FloatConversion.float(bf16: FloatConversion.bf16(e)) != g {
            Issue.record("exact \(e) does not round to the library's \(g)")
        }
    }
}
