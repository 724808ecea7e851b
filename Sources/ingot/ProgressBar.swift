import Foundation
import TensorIO

/// Draws progress on stderr: a redrawn bar with rate and ETA on a terminal, a plain line every few
/// seconds otherwise (logs, CI).
final class ProgressBar: @unchecked Sendable {
    // Sendable: update() is called from one thread at a time (callers serialize it).
    private let label: String
    private var total: Int
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let isTTY = isatty(STDERR_FILENO) != 0
    private let quiet: Bool
    /// nil: amounts are bytes; otherwise a count of this unit ("layers", "tokens").
    private let unit: String?

    init(label: String, total: Int, quiet: Bool = false, unit: String? = nil) {
        self.label = label
        self.total = max(total, 1)
        self.quiet = quiet
        self.unit = unit
    }

    private func amount(_ n: Int) -> String { unit.map { "\(n) \($0)" } ?? formatBytes(n) }

    /// Reports `done` of `total` bytes; draws at most 10 times a second (every 5 s without a TTY).
    func update(_ done: Int, total newTotal: Int? = nil, detail: String = "") {
        if let newTotal { total = max(newTotal, 1) }
        guard !quiet else { return }
        let now = Date()
        let interval = isTTY ? 0.1 : 5
        guard now.timeIntervalSince(lastDraw) >= interval || done >= total else { return }
        lastDraw = now
        let elapsed = max(now.timeIntervalSince(start), 1e-6)
        let rate = Double(done) / elapsed
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let fraction = Double(done) / Double(total)
        let text = String(
            format: "%@ %5.1f%% %@/%@ %@/s ETA %@ %@", label, fraction * 100, amount(done), amount(total),
            unit == nil ? formatBytes(Int(rate)) : String(format: "%.2f", rate), formatDuration(eta), detail)
        if isTTY {
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[K\(bar) \(text)".utf8))
        } else {
            printNote(text)
        }
    }

    /// Ends the line on a terminal.
    func finish() {
        if isTTY && !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// Seconds → "1h02m", "3m05s", "12s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, s % 3600 / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
