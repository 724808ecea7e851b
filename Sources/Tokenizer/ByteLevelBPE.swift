/// Byte-level BPE in GPT-2's text form, as GGUF's `gpt2` tokenizer keys and Hugging Face's `tokenizer.json` store it:
/// token bytes as GPT-2 byte-to-unicode strings and the merge list recovered from tiktoken's ranks.
public enum ByteLevelBPE {
    /// GPT-2's byte → character table: printable Latin-1 bytes map to themselves, the other 68 bytes to
    /// U+0100 onwards in byte order (`bytes_to_unicode` in GPT-2's encoder.py).
    public static let byteToUnicode: [Character] = {
        var printable = Set<Int>()
        for r in [0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF] { printable.formUnion(r) }
        var table = [Character](repeating: " ", count: 256)
        var next = 256
        for b in 0..<256 {
            if printable.contains(b) {
                table[b] = Character(Unicode.Scalar(UInt32(b)).unsafelyUnwrapped)
            } else {
                table[b] = Character(Unicode.Scalar(UInt32(next)).unsafelyUnwrapped)
                next += 1
            }
        }
        return table
    }()

    /// A token's bytes in GPT-2 byte-to-unicode form.
    public static func gpt2String(_ bytes: [UInt8]) -> String {
        var s = ""
        s.reserveCapacity(bytes.count)
        for b in bytes { s.append(byteToUnicode[Int(b)]) }
        return s
    }

    /// The merges list recovered from the ranks: for each normal token of two or more bytes, in id order, BPE
    /// of its bytes using only merges ranked below it; when that ends in exactly two parts, "left right" in GPT-2
    /// form (llama.cpp's converter, `QwenModel.bpe` with `max_rank`).
    public static func merges(_ input: TokenizerInput) -> [String] {
        var ranks: [[UInt8]: Int] = [:]
        for (id, kind) in input.kinds.enumerated() where kind == .normal { ranks[input.tokens[id]] = id }
        var out: [String] = []
        var parts: [[UInt8]] = []
        for (id, kind) in input.kinds.enumerated() where kind == .normal && input.tokens[id].count > 1 {
            let token = input.tokens[id]
            parts.removeAll(keepingCapacity: true)
            for b in token { parts.append([b]) }
            while true {
                var best: (index: Int, rank: Int)?
                for i in 0..<(parts.count - 1) {
                    if let r = ranks[parts[i] + parts[i + 1]], best == nil || r < best.unsafelyUnwrapped.rank { best = (i, r) }
                }
                guard let b = best, b.rank < id else { break }
                parts[b.index] += parts[b.index + 1]
                parts.remove(at: b.index + 1)
            }
            if parts.count == 2 { out.append(gpt2String(parts[0]) + " " + gpt2String(parts[1])) }
        }
        return out
    }

}
