public import Foundation

/// The `int4-tiles` expert layout (docs/bundle-format.md): per projection, tiles of R rows × 32 columns, each
/// R × 16 nibble bytes in split-halves order (byte j = column j | column j+16 << 4) followed by the R BF16 scales.
public struct TileLayout: Sendable, Equatable {
    /// Rows per tile (R).
    public let tileRows: Int
    /// Columns per group and tile.
    public static let groupSize = 32
    /// The layout's identifier in the manifest.
    public static let id = "int4-tiles"
    public static let nibbleOrder = "split-halves"
    public static let scalePlacement = "tile-tail"

    /// Creates a layout.
    public init(tileRows: Int = 8) {
        precondition(tileRows >= 1)
        self.tileRows = tileRows
    }

    /// Bytes per tile: R × 16 nibble bytes + R × 2 scale bytes.
    public var tileBytes: Int { tileRows * 18 }

    /// Bytes of a tiled projection of `rows` × `columns`.
    public func projectionBytes(rows: Int, columns: Int) -> Int {
        precondition(columns % Self.groupSize == 0)
        return (rows + tileRows - 1) / tileRows * (columns / Self.groupSize) * tileBytes
    }

    /// Nibbles u0…u7 (a little-endian 32-bit value, u_k at bits 4k) spread into bytes 0…7 of a 64-bit value.
    @inline(__always)
    static func spread(_ v: UInt64) -> UInt64 {
        var x = v & 0xFFFF_FFFF
        x = (x | x << 16) & 0x0000_FFFF_0000_FFFF
        x = (x | x << 8) & 0x00FF_00FF_00FF_00FF
        return (x | x << 4) & 0x0F0F_0F0F_0F0F_0F0F
    }

    /// The inverse of ``spread(_:)``: the low nibbles of bytes 0…7 gathered into 32 bits.
    @inline(__always)
    static func compact(_ v: UInt64) -> UInt64 {
        var x = v & 0x0F0F_0F0F_0F0F_0F0F
        x = (x | x >> 4) & 0x00FF_00FF_00FF_00FF
        x = (x | x >> 8) & 0x0000_FFFF_0000_FFFF
        return (x | x >> 16) & 0xFFFF_FFFF
    }

    /// Tiles one projection: `packed` is compressed-tensors `weight_packed` ([rows, columns/8] I32, i.e. rows ×
    /// columns/2 bytes) and `scales` its BF16 `weight_scale` ([rows, columns/32]); writes
    /// ``projectionBytes(rows:columns:)`` bytes to `out`.
    public func tile(
        packed: UnsafeRawBufferPointer, scales: UnsafeRawBufferPointer, rows: Int, columns: Int,
        into out: UnsafeMutableRawBufferPointer
    ) {
        let groups = columns / Self.groupSize, rowBytes = columns / 2
        precondition(packed.count == rows * rowBytes && scales.count == rows * groups * 2)
        precondition(out.count == projectionBytes(rows: rows, columns: columns))
        let r = tileRows
        var o = 0
        for b in 0..<((rows + r - 1) / r) {
            for g in 0..<groups {
                for t in 0..<r {
                    let row = b * r + t
                    if row < rows {
                        let a = packed.loadUnaligned(fromByteOffset: row * rowBytes + g * 16, as: UInt64.self)
                        let c = packed.loadUnaligned(fromByteOffset: row * rowBytes + g * 16 + 8, as: UInt64.self)
                        // a holds u0…u15 (nibble k at bits 4k), c holds u16…u31.
                        let w0 = Self.spread(a) | Self.spread(c) << 4
                        let w1 = Self.spread(a >> 32) | Self.spread(c >> 32) << 4
                        out.storeBytes(of: w0, toByteOffset: o + t * 16, as: UInt64.self)
                        out.storeBytes(of: w1, toByteOffset: o + t * 16 + 8, as: UInt64.self)
                        let s = scales.loadUnaligned(fromByteOffset: (row * groups + g) * 2, as: UInt16.self)
                        out.storeBytes(of: s, toByteOffset: o + r * 16 + t * 2, as: UInt16.self)
                    } else {
                        out.storeBytes(of: UInt64(0), toByteOffset: o + t * 16, as: UInt64.self)
                        out.storeBytes(of: UInt64(0), toByteOffset: o + t * 16 + 8, as: UInt64.self)
                        out.storeBytes(of: UInt16(0), toByteOffset: o + r * 16 + t * 2, as: UInt16.self)
                    }
                }
                o += tileBytes
            }
        }
    }

    /// The inverse of ``tile(packed:scales:rows:columns:into:)``: writes the compressed-tensors packed bytes and
    /// BF16 scales back.
    public func untile(
        _ tiles: UnsafeRawBufferPointer, rows: Int, columns: Int, packed: UnsafeMutableRawBufferPointer,
        scales: UnsafeMutableRawBufferPointer
    ) {
        let groups = columns / Self.groupSize, rowBytes = columns / 2
        precondition(packed.count == rows * rowBytes && scales.count == rows * groups * 2)
        precondition(tiles.count == projectionBytes(rows: rows, columns: columns))
        let r = tileRows
        var o = 0
        for b in 0..<((rows + r - 1) / r) {
            for g in 0..<groups {
                for t in 0..<r where b * r + t < rows {
                    let row = b * r + t
                    let w0 = tiles.loadUnaligned(fromByteOffset: o + t * 16, as: UInt64.self)
                    let w1 = tiles.loadUnaligned(fromByteOffset: o + t * 16 + 8, as: UInt64.self)
                    let a = Self.compact(w0) | Self.compact(w1) << 32
                    let c = Self.compact(w0 >> 4) | Self.compact(w1 >> 4) << 32
                    packed.storeBytes(of: a, toByteOffset: row * rowBytes + g * 16, as: UInt64.self)
                    packed.storeBytes(of: c, toByteOffset: row * rowBytes + g * 16 + 8, as: UInt64.self)
                    let s = tiles.loadUnaligned(fromByteOffset: o + r * 16 + t * 2, as: UInt16.self)
                    scales.storeBytes(of: s, toByteOffset: (row * groups + g) * 2, as: UInt16.self)
                }
                o += tileBytes
            }
        }
    }

    /// The `planes` transform of one tiled projection (before compression): all tiles' nibble bytes, then all
    /// scale low bytes, then all scale high bytes. Same length as the input.
    public func planes(_ tiles: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(tiles.count % tileBytes == 0 && out.count == tiles.count)
        let n = tiles.count / tileBytes, nib = tileRows * 16, scaleCount = n * tileRows
        for k in 0..<n {
            let src = k * tileBytes
            UnsafeMutableRawBufferPointer(rebasing: out[(k * nib)..<(k * nib + nib)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: tiles[src..<(src + nib)]))
            for t in 0..<tileRows {
                out[n * nib + k * tileRows + t] = tiles[src + nib + 2 * t]
                out[n * nib + scaleCount + k * tileRows + t] = tiles[src + nib + 2 * t + 1]
            }
        }
    }

    /// The inverse of ``planes(_:into:)``.
    public func unplanes(_ planes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(planes.count % tileBytes == 0 && out.count == planes.count)
        let n = planes.count / tileBytes, nib = tileRows * 16, scaleCount = n * tileRows
        for k in 0..<n {
            let dst = k * tileBytes
            UnsafeMutableRawBufferPointer(rebasing: out[dst..<(dst + nib)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: planes[(k * nib)..<(k * nib + nib)]))
            for t in 0..<tileRows {
                out[dst + nib + 2 * t] = planes[n * nib + k * tileRows + t]
                out[dst + nib + 2 * t + 1] = planes[n * nib + scaleCount + k * tileRows + t]
            }
        }
    }
}
