internal import CZstd

/// A libzstd call failed; carries zstd's own message.
public struct ZstdError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The C function that failed.
    public let call: String
    /// `ZSTD_getErrorName` of the result, or ingot's reason.
    public let message: String
    public var description: String { "\(call): \(message)" }
}

/// zstd frames: one compressed frame per extent, so any extent decompresses alone.
public enum Zstd {
    /// The largest frame ``compress(_:level:)`` can produce for `count` bytes (`ZSTD_compressBound`).
    public static func compressBound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `input` into one zstd frame. The corresponding C function is `ZSTD_compress`.
    ///
    /// - Parameter level: zstd level, 1 (fast) to 19 (small); 3 is zstd's default.
    /// - Throws: ``ZstdError`` with libzstd's message.
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32 = 3) throws(ZstdError) -> [UInt8] {
        let bound = ZSTD_compressBound(input.count)
        var written = 0
        let out = [UInt8](unsafeUninitializedCapacity: bound) { buf, count in
            written = ZSTD_compress(buf.baseAddress, bound, input.baseAddress, input.count, level)
            count = ZSTD_isError(written) != 0 ? 0 : written
        }
        guard ZSTD_isError(written) == 0 else {
            throw ZstdError(call: "ZSTD_compress", message: String(cString: ZSTD_getErrorName(written)))
        }
        return out
    }

    /// Decompresses one frame whose content size is recorded in its header into exactly
    /// `expectedCount` bytes. The corresponding C function is `ZSTD_decompress`.
    ///
    /// - Throws: ``ZstdError`` when the frame is corrupt or its size differs from `expectedCount`.
    public static func decompress(_ frame: UnsafeRawBufferPointer, expectedCount: Int) throws(ZstdError) -> [UInt8] {
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard declared == UInt64(expectedCount) else {
            throw ZstdError(
                call: "ZSTD_getFrameContentSize",
                message: "frame declares \(Int64(bitPattern: declared)) bytes, expected \(expectedCount)")
        }
        var result = 0
        let out = [UInt8](unsafeUninitializedCapacity: expectedCount) { buf, count in
            result = ZSTD_decompress(buf.baseAddress, expectedCount, frame.baseAddress, frame.count)
            count = ZSTD_isError(result) != 0 ? 0 : result
        }
        guard ZSTD_isError(result) == 0 else {
            throw ZstdError(call: "ZSTD_decompress", message: String(cString: ZSTD_getErrorName(result)))
        }
        guard result == expectedCount else {
            throw ZstdError(call: "ZSTD_decompress", message: "got \(result) bytes, expected \(expectedCount)")
        }
        return out
    }

    /// The libzstd version string, e.g. "1.5.4". The corresponding C function is `ZSTD_versionString`.
    public static var version: String { String(cString: ZSTD_versionString()) }
}
