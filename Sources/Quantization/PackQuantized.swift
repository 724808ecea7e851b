/// compressed-tensors "pack-quantized": signed levels stored as unsigned `u = q + 2^(bits−1)`, packed
/// `32/bits` per little-endian Int32 word along the last dimension, lowest column in the lowest bits.
///
/// For 4 bits: column c of a row lives in word c/8 at bits 4·(c mod 8)…4·(c mod 8)+3, so in memory byte m of
/// a word holds columns 2m (low nibble) and 2m+1 (high nibble). Rows are zero-padded (u = 0, q = −8) to a
/// whole number of words; `weight_shape` keeps the real column count. Asymmetric zero points are packed the
/// same way along dimension 0 (docs/quantization.md, "compressed-tensors pack-quantized").
public enum PackQuantized {
    /// Values per 32-bit word.
    public static func valuesPerWord(bits: Int) -> Int { 32 / bits }

    /// Offset added before packing: 8 for 4 bits, 128 for 8 bits.
    public static func offset(bits: Int) -> Int { 1 << (bits - 1) }

    /// Words per packed row of `columns` values.
    public static func wordsPerRow(columns: Int, bits: Int) -> Int {
        let n = valuesPerWord(bits: bits)
        return (columns + n - 1) / n
    }

    /// Packs row-major signed levels `q` ([rows, columns]) into [rows, wordsPerRow] words.
    ///
    /// - Precondition: bits is 4 or 8; every q is in [−2^(bits−1), 2^(bits−1) − 1].
    public static func pack(_ q: [Int8], rows: Int, columns: Int, bits: Int) -> [Int32] {
        precondition(bits == 4 || bits == 8, "pack-quantized supports 4 and 8 bits here")
        precondition(q.count == rows * columns)
        let perWord = valuesPerWord(bits: bits), words = wordsPerRow(columns: columns, bits: bits)
        let off = offset(bits: bits), mask = UInt32((1 << bits) - 1)
        var out = [Int32](repeating: 0, count: rows * words)
        for r in 0..<rows {
            for w in 0..<words {
                var word: UInt32 = 0
                for j in 0..<perWord {
                    let c = w * perWord + j
                    let u = c < columns ? UInt32(Int(q[r * columns + c]) + off) & mask : 0
                    word |= u << UInt32(bits * j)
                }
                out[r * words + w] = Int32(bitPattern: word)
            }
        }
        return out
    }

    /// Unpacks [rows, wordsPerRow] words into row-major signed levels, cropped to `columns`.
    ///
    /// - Precondition: `packed.count == rows × wordsPerRow(columns, bits)`.
    public static func unpack(_ packed: [Int32], rows: Int, columns: Int, bits: Int) -> [Int8] {
        precondition(bits == 4 || bits == 8)
        let perWord = valuesPerWord(bits: bits), words = wordsPerRow(columns: columns, bits: bits)
        precondition(packed.count == rows * words, "packed size does not fit [\(rows), \(columns)]")
        let off = offset(bits: bits), mask = UInt32((1 << bits) - 1)
        var out = [Int8](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                let word = UInt32(bitPattern: packed[r * words + c / perWord])
                let u = (word >> UInt32(bits * (c % perWord))) & mask
                out[r * columns + c] = Int8(Int(u) - off)
            }
        }
        return out
    }

    /// Packs zero points [rows, groups] along dimension 0 into [ceil(rows/perWord), groups] words.
    public static func packZeroPoints(_ zp: [Int8], rows: Int, groups: Int, bits: Int) -> [Int32] {
        transpose(
            pack(transpose(zp, rows: rows, columns: groups), rows: groups, columns: rows, bits: bits),
            rows: groups, columns: wordsPerRow(columns: rows, bits: bits))
    }

    /// Unpacks zero points packed along dimension 0 back to [rows, groups].
    public static func unpackZeroPoints(_ packed: [Int32], rows: Int, groups: Int, bits: Int) -> [Int8] {
        let words = wordsPerRow(columns: rows, bits: bits)
        return transpose(
            unpack(transpose(packed, rows: words, columns: groups), rows: groups, columns: rows, bits: bits),
            rows: groups, columns: rows)
    }

    static func transpose<T>(_ a: [T], rows: Int, columns: Int) -> [T] {
        precondition(a.count == rows * columns)
        guard let first = a.first else { return a }
        var out = [T](repeating: first, count: a.count)
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = a[r * columns + c] } }
        return out
    }
}
