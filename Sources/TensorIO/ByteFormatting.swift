import Foundation

/// 1234567 → "1.23 MB" (decimal units, as disk sizes are quoted).
public func formatBytes(_ n: Int) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"]
    var value = Double(n)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(n) B" : String(format: "%.2f %@", value, units[unit])
}
