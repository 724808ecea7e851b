import Dispatch
import Foundation

/// Hashes the data file's byte stream on its own serial queue, in write order, so SHA-256 runs while the writer
/// thread is in write(); at most `limit` pieces wait, which bounds the memory they hold.
final class StreamHasher: @unchecked Sendable {
    // Sendable: `file` and `extent` are touched only on `queue`.
    private let queue = DispatchQueue(label: "ingot.repack.hash")
    private let slots: DispatchSemaphore
    private var file = SHA256Stream()
    private var extent = SHA256Stream()
    private var extentDigests: [Int: String] = [:]

    init(limit: Int = 3) { slots = DispatchSemaphore(value: limit) }

    /// Adds bytes (kept alive by `owner` until hashed) to the file hash, and to extent `k`'s hash when given; then
    /// runs `after` (releasing source pages).
    func add(_ bytes: UnsafeRawBufferPointer, owner: (any AnyObject & Sendable)?, extent k: Int?, after: (@Sendable () -> Void)? = nil) {
        slots.wait()
        let piece = UnsafeTransfer(bytes)
        queue.async { [self] in
            withExtendedLifetime(owner) {
                file.update(piece.value)
                if k != nil { extent.update(piece.value) }
            }
            after?()
            slots.signal()
        }
    }

    /// Adds zero padding to the file hash.
    func addZeros(_ count: Int) {
        guard count > 0 else { return }
        queue.async { [self] in file.updateZeros(count) }
    }

    /// Closes extent `k`'s hash.
    func finishExtent(_ k: Int) {
        queue.async { [self] in
            extentDigests[k] = extent.finalize()
            extent = SHA256Stream()
        }
    }

    /// Waits for everything queued; returns the file digest and the extent digests.
    func finish() -> (file: String, extents: [Int: String]) {
        queue.sync { (file.finalize(), extentDigests) }
    }

    /// The extent digests finished so far (waits for the queue).
    func extentDigestsSoFar() -> [Int: String] { queue.sync { extentDigests } }

    /// Starts the file hash from a resumed prefix.
    func resume(from prefix: SHA256Stream) { queue.sync { file = prefix } }
}

/// A byte array shared with the hashing queue.
final class ByteBox: @unchecked Sendable {
    // Sendable: never mutated after init.
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// Asserts `Sendable` for a pointer whose memory outlives the asynchronous use (kept alive by an owner).
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
