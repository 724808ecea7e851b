import Dispatch
import Foundation
import TensorIO

/// Hashes the data file's byte stream on its own serial queue, in write order, so SHA-256 runs while the writer
/// thread is in write(); a dense extent's own hash runs on a second serial queue beside it (the two streams are
/// independent, so the two cores share them). At most `limit` pieces held in memory wait, which bounds the memory they
/// hold; pieces of the source mapping (`mapped`) may wait up to `mappedLimit`: they are page-cache pages that are
/// only mapped in while being hashed, so the writer can run ahead of SHA-256 and finish reading the source before
/// writeback competes with the reads (the disk serves mixed reads and writes far slower than either alone).
final class StreamHasher: @unchecked Sendable {
    // Sendable: `file` is touched only on `fileQueue`, `extent` and `extentDigests` only on `extentQueue`.
    private let fileQueue = DispatchQueue(label: "ingot.repack.hash.file")
    private let extentQueue = DispatchQueue(label: "ingot.repack.hash.extent")
    private let slots: DispatchSemaphore
    private let mappedSlots: DispatchSemaphore
    private var file = SHA256Stream()
    private var extent = SHA256Stream()
    private var extentDigests: [Int: String] = [:]

    init(limit: Int = 3, mappedLimit: Int = 64) {
        slots = DispatchSemaphore(value: limit)
        mappedSlots = DispatchSemaphore(value: mappedLimit)
    }

    /// Adds bytes (kept alive by `owner` until hashed) to the file hash, and to extent `k`'s hash when given; then,
    /// once both are done, runs `after` (releasing source pages).
    func add(
        _ bytes: UnsafeRawBufferPointer, owner: (any AnyObject & Sendable)?, extent k: Int?, mapped: Bool = false,
        after: (@Sendable () -> Void)? = nil
    ) {
        let slots = mapped ? mappedSlots : slots
        slots.wait()
        let piece = UnsafeTransfer(bytes)
        let done = Countdown(k == nil ? 1 : 2) {
            after?()
            slots.signal()
        }
        fileQueue.async { [self] in
            withExtendedLifetime(owner) { file.update(piece.value) }
            done.tick()
        }
        guard k != nil else { return }
        extentQueue.async { [self] in
            withExtendedLifetime(owner) { extent.update(piece.value) }
            done.tick()
        }
    }

    /// Adds zero padding to the file hash.
    func addZeros(_ count: Int) {
        guard count > 0 else { return }
        fileQueue.async { [self] in file.updateZeros(count) }
    }

    /// Closes extent `k`'s hash.
    func finishExtent(_ k: Int) {
        extentQueue.async { [self] in
            extentDigests[k] = extent.finalize()
            extent = SHA256Stream()
        }
    }

    /// Waits for everything queued; returns the file digest and the extent digests.
    func finish() -> (file: String, extents: [Int: String]) {
        let digests = extentQueue.sync { extentDigests }
        return (fileQueue.sync { file.finalize() }, digests)
    }

    /// The extent digests finished so far (waits for the extent queue).
    func extentDigestsSoFar() -> [Int: String] { extentQueue.sync { extentDigests } }

    /// Starts the file hash from a resumed prefix.
    func resume(from prefix: SHA256Stream) { fileQueue.sync { file = prefix } }
}

/// Runs `action` when `tick` has been called `count` times (from any threads).
final class Countdown: @unchecked Sendable {
    // Sendable: `remaining` is guarded by `lock`.
    private let lock = NSLock()
    private var remaining: Int
    private let action: @Sendable () -> Void
    init(_ count: Int, _ action: @escaping @Sendable () -> Void) {
        remaining = count
        self.action = action
    }
    func tick() {
        lock.lock()
        remaining -= 1
        let fire = remaining == 0
        lock.unlock()
        if fire { action() }
    }
}

/// A byte array shared with the hashing queue.
final class ByteBox: @unchecked Sendable {
    // Sendable: never mutated after init.
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}
