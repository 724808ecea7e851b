import Foundation
import Inference
import TensorIO

/// A reference model's log-probabilities saved once (`ingot eval parity --save-ref FILE`) and reused against many
/// candidates, in llama.cpp's quantized style: per scored token a float scale and a float minimum, then one uint16
/// per vocabulary entry, lp ≈ min + q × scale (lp ≥ max − 30; lower log-probs clamp to the minimum, their
/// probability being below e⁻³⁰ of the top). Layout (little-endian):
///
///     "ingot-lp" | u32 version = 1 | u32 ctx | u32 vocab | u32 chunks | u32 scored | i32 tokens[chunks × ctx]
///     per scored token: f32 scale | f32 min | u16 q[vocab] | u16 0 when vocab is odd
public final class ReferenceLogProbs: @unchecked Sendable {
    // Sendable: immutable after init.
    public static let magic = Array("ingot-lp".utf8)
    public let ctx: Int
    public let vocab: Int
    public let chunks: Int
    public let scored: Int
    public let tokens: [Int]
    private let mapping: MappedFile
    private let recordsOffset: Int

    static func recordBytes(vocab: Int) -> Int { 8 + 2 * (vocab + vocab % 2) }

    /// Opens a saved reference.
    ///
    /// - Throws: ``EvaluationError/notReferenceFile(path:reason:)`` naming the file when it is not one.
    public init(path: String) throws {
        mapping = try MappedFile(path: path)
        let b = mapping.bytes
        func u32(_ o: Int) -> Int { Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self))) }
        guard b.count >= 28, Array(b[0..<8]) == Self.magic, u32(8) == 1 else {
            throw EvaluationError.notReferenceFile(path: path, reason: "not an ingot reference log-prob file (magic/version)")
        }
        ctx = u32(12)
        vocab = u32(16)
        chunks = u32(20)
        scored = u32(24)
        recordsOffset = 28 + 4 * chunks * ctx
        let expected = recordsOffset + scored * Self.recordBytes(vocab: vocab)
        guard ctx >= 2, vocab > 0, b.count == expected, scored == chunks * (ctx - 1 - ctx / 2) else {
            throw EvaluationError.notReferenceFile(path: path, reason: "\(b.count) bytes, the header implies \(expected)")
        }
        tokens = (0..<(chunks * ctx)).map { Int(Int32(littleEndian: b.loadUnaligned(fromByteOffset: 28 + 4 * $0, as: Int32.self))) }
    }

    /// The log-probabilities of scored token `i` (dequantized).
    public func logProbs(scored i: Int) -> [Double] {
        let b = mapping.bytes, o = recordsOffset + i * Self.recordBytes(vocab: vocab)
        let scale = Double(Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self))))
        let minimum = Double(Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))))
        return (0..<vocab).map { v in
            minimum + scale * Double(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: o + 8 + 2 * v, as: UInt16.self)))
        }
    }

    /// Streams records to a temporary file; `finish` fsyncs and renames it into place.
    public final class Writer {
        let output: FileHandle
        let path: String, temporary: String
        let ctx: Int, vocab: Int, chunks: Int
        var scored = 0
        var finished = false

        init(path: String, ctx: Int, vocab: Int, tokens: [Int]) throws {
            self.path = path
            temporary = path + ".partial-\(getpid())"
            self.ctx = ctx
            self.vocab = vocab
            chunks = tokens.count / ctx
            guard FileManager.default.createFile(atPath: temporary, contents: nil), let h = FileHandle(forWritingAtPath: temporary) else {
                throw FileError(path: temporary, operation: "create")
            }
            output = h
            var header = ReferenceLogProbs.magic
            for v in [1, ctx, vocab, chunks, 0] { withUnsafeBytes(of: UInt32(v).littleEndian) { header += $0 } }
            for t in tokens { withUnsafeBytes(of: Int32(t).littleEndian) { header += $0 } }
            try output.write(contentsOf: header)
        }

        deinit {
            if !finished {
                try? output.close()
                unlink(temporary)
            }
        }

        func append(_ lp: [Double]) throws {
            let top = lp.max() ?? 0
            let minimum = max(lp.min() ?? 0, top - 30)
            let scale = (top - minimum) > 0 ? (top - minimum) / 65535 : 1
            var record = [UInt8]()
            record.reserveCapacity(ReferenceLogProbs.recordBytes(vocab: vocab))
            withUnsafeBytes(of: Float(scale).bitPattern.littleEndian) { record += $0 }
            withUnsafeBytes(of: Float(minimum).bitPattern.littleEndian) { record += $0 }
            // Quantize against the stored (f32) scale and minimum so dequantization is as close as it can be.
            let s = Double(Float(scale)), m = Double(Float(minimum))
            for v in lp {
                let q = UInt16(max(0, min(65535, ((v - m) / s).rounded())))
                withUnsafeBytes(of: q.littleEndian) { record += $0 }
            }
            if vocab % 2 == 1 { record += [0, 0] }
            try output.write(contentsOf: record)
            scored += 1
        }

        func finish() throws {
            try output.seek(toOffset: 24)
            try output.write(contentsOf: withUnsafeBytes(of: UInt32(scored).littleEndian) { Array($0) })
            try output.synchronize()
            try output.close()
            try AtomicFile.commit(temporary: temporary, to: path)
            finished = true
        }
    }
}
