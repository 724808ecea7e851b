import Foundation

/// Per-code-point class bits of K2's pat_str, expanded once from ``unicodeClassRuns`` (generated from
/// tiktoken's own regex engine, so the matcher agrees with the oracle on every code point).
enum CharacterClass {
    /// Script=Han (`\p{Han}`; not Script_Extensions, so U+3002 is not Han).
    static let han: UInt8 = 1
    /// `\p{L}`.
    static let letter: UInt8 = 2
    /// `\p{N}`.
    static let number: UInt8 = 4
    /// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]`.
    static let upper: UInt8 = 8
    /// `[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]`.
    static let lower: UInt8 = 16
    /// `\s` (Unicode White_Space, as in Rust's regex).
    static let space: UInt8 = 32
    /// Python `str.isspace` (White_Space plus U+001C–U+001F), for HF's 25,000-character run split.
    static let pythonSpace: UInt8 = 64

    /// One byte per code point, U+0000…U+10FFFF (surrogates 0).
    static let table: [UInt8] = {
        guard let data = Data(base64Encoded: unicodeClassRuns, options: .ignoreUnknownCharacters), data.count % 4 == 0 else {
            preconditionFailure("UnicodeClassTable.swift is corrupt; regenerate it with make_tokenizer_golden.py")
        }
        var table = [UInt8](repeating: 0, count: 0x11_0000)
        let runs = data.withUnsafeBytes { raw in
            (0..<raw.count / 4).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        }
        for (i, run) in runs.enumerated() {
            let start = Int(run >> 8)
            let end = i + 1 < runs.count ? Int(runs[i + 1] >> 8) : 0x11_0000
            let bits = UInt8(truncatingIfNeeded: run)
            if bits != 0 { for c in start..<end { table[c] = bits } }
        }
        return table
    }()

    /// Characters that match each contraction letter case-insensitively (`s` also matches U+017F).
    static let folds: [Character: Set<UInt32>] = contractionFolds.mapValues { Set($0) }
}
