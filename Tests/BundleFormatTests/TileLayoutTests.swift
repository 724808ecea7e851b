import BundleFormat
import Checkpoint
import Foundation
import Quantization
import TestSupport
import Testing

@Suite("int4-tiles layout")
struct TileLayoutTests {
    func random(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    @Test(
        "tile → untile returns the packed bytes and scales exactly, including rows that do not fill a tile",
        arguments: [(8, 32), (16, 64), (3, 32), (13, 96), (1, 224), (24, 7168 / 16)])
    func roundTrip(rows: Int, columns: Int) {
        let layout = TileLayout(tileRows: 8)
        let packed = random(rows * columns / 2, seed: UInt64(rows * 1000 + columns))
        let scales = random(rows * columns / 32 * 2, seed: UInt64(rows + columns))
        var tiles = [UInt8](repeating: 0xAA, count: layout.projectionBytes(rows: rows, columns: columns))
        packed.withUnsafeBytes { p in
            scales.withUnsafeBytes { s in
                tiles.withUnsafeMutableBytes {
                    layout.tile(packed: p, scales: s, rows: rows, columns: columns, into: $0)
                }
            }
        }
        var packedBack = [UInt8](repeating: 0, count: packed.count), scalesBack = [UInt8](repeating: 0, count: scales.count)
        tiles.withUnsafeBytes { t in
            packedBack.withUnsafeMutableBytes { p in
                scalesBack.withUnsafeMutableBytes { s in
                    layout.untile(t, rows: rows, columns: columns, packed: p, scales: s)
                }
            }
        }
        #expect(packedBack == packed)
        #expect(scalesBack == scales)
        var planes = [UInt8](repeating: 0, count: tiles.count), back = [UInt8](repeating: 0, count: tiles.count)
        tiles.withUnsafeBytes { t in planes.withUnsafeMutableBytes { layout.planes(t, into: $0) } }
        planes.withUnsafeBytes { p in back.withUnsafeMutableBytes { layout.unplanes(p, into: $0) } }
        #expect(back == tiles)
    }

    /// The documented order: tile byte j of a row = level of column j + 8 (low nibble) | column j + 16 (high nibble),
    /// then the tile's 8 scales; a mask and a shift unpack 16 consecutive columns each.
    @Test("split-halves nibbles and tile-tail scales are where docs/bundle-format.md says")
    func documentedOrder() {
        let layout = TileLayout(tileRows: 8)
        let rows = 8, columns = 64
        var q: [Int8] = []
        for i in 0..<(rows * columns) {
            let level: Int = (i * 7 + i / 64) % 15 - 7
            q.append(Int8(level))
        }
        let packedWords = PackQuantized.pack(q, rows: rows, columns: columns, bits: 4)
        let scales: [UInt16] = (0..<(rows * 2)).map { (i: Int) -> UInt16 in UInt16(0x3A00 + i) }
        var tiles = [UInt8](repeating: 0, count: layout.projectionBytes(rows: rows, columns: columns))
        packedWords.withUnsafeBytes { p in
            scales.withUnsafeBytes { s in
                tiles.withUnsafeMutableBytes {
                    layout.tile(packed: p, scales: s, rows: rows, columns: columns, into: $0)
                }
            }
        }
        #expect(layout.tileBytes == 144 && tiles.count == 2 * 144)
        for g in 0..<2 {
            for r in 0..<8 {
                for j in 0..<16 {
                    let byte = tiles[g * 144 + r * 16 + j]
                    #expect(Int(byte & 0x0F) - 8 == Int(q[r * columns + 32 * g + j]))
                    #expect(Int(byte >> 4) - 8 == Int(q[r * columns + 32 * g + 16 + j]))
                }
                let s = UInt16(tiles[g * 144 + 128 + 2 * r]) | UInt16(tiles[g * 144 + 129 + 2 * r]) << 8
                #expect(s == scales[r * 2 + g])
            }
        }
    }
}
