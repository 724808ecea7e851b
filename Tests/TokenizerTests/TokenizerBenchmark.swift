import Checkpoint
import Foundation
import TensorIO
import Testing

@testable import Tokenizer

/// `make bench-tokenizer`: encode throughput on mixed text, release build; reports, never asserts a time.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["RUN_BENCHMARKS"] == "1"))
struct TokenizerBenchmark {
    /// About `megabytes` MB of mixed text: the golden corpus (English, code, JSON, CJK, many scripts, emoji,
    /// special names; not the 30,000-character runs) and the 1,000 seeded random strings, repeated.
    static func mixedText(megabytes: Int) -> String {
        let corpus = Golden.json["cases"]!.elements!.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        let unit = corpus + "\n" + Golden.randomStrings().joined(separator: "\n")
        let copies = max(1, megabytes * 1_000_000 / unit.utf8.count)
        return (0..<copies).map { _ in unit }.joined(separator: "\n")
    }

    @Test("encode throughput on mixed text")
    func throughput() {
        let text = Self.mixedText(megabytes: 16)
        let bytes = Double(text.utf8.count)
        var best = Double.infinity
        var count = 0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            count = Golden.tokenizer.encode(text, allowSpecial: true).count
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let english = String(repeating: "The quick brown fox jumps over the lazy dog; it's 2024 and we're testing. ", count: 200_000)
        var bestEnglish = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = Golden.tokenizer.encode(english, allowSpecial: true)
            bestEnglish = min(bestEnglish, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        print(
            String(
                format: "tokenizer bench: mixed %.1f MB -> %d ids in %.3f s = %.1f MB/s; English %.1f MB in %.3f s = %.1f MB/s",
                bytes / 1e6, count, best, bytes / 1e6 / best, Double(english.utf8.count) / 1e6, bestEnglish,
                Double(english.utf8.count) / 1e6 / bestEnglish))
        #expect(count > 0)
    }
}
