/// An open-addressing hash table from byte strings to ranks, with all keys in one flat buffer, so a
/// lookup of a slice of the input allocates nothing.
struct RankTable: Sendable {
    /// All keys, concatenated.
    private var storage: [UInt8] = []
    /// Per entry: start in `storage`, length, rank.
    private var entries: [(start: Int32, length: Int32, rank: Int32)] = []
    /// Entry index + 1, or 0 for an empty slot; the count is a power of two at least twice the entries.
    private var slots: [Int32] = [0, 0]

    var count: Int { entries.count }

    /// Adds `key` with `rank`; returns false (and changes nothing) when the key is already present.
    mutating func insert(_ key: [UInt8], rank: Int) -> Bool {
        let found = key.withUnsafeBufferPointer { lookup($0.baseAddress!, key.count) }
        guard found < 0 else { return false }
        entries.append((Int32(storage.count), Int32(key.count), Int32(rank)))
        storage += key
        if entries.count * 2 > slots.count { rehash(capacity: slots.count * 2) } else { place(entries.count - 1) }
        return true
    }

    private mutating func rehash(capacity: Int) {
        slots = [Int32](repeating: 0, count: capacity)
        for i in entries.indices { place(i) }
    }

    private mutating func place(_ index: Int) {
        let entry = entries[index]
        let mask = slots.count - 1
        var slot = storage.withUnsafeBufferPointer { buffer in
            Int(truncatingIfNeeded: Self.hash(buffer.baseAddress! + Int(entry.start), Int(entry.length))) & mask
        }
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(index + 1)
    }

    /// The rank of the `length` bytes at `key`, or -1.
    @inline(__always)
    func lookup(_ key: UnsafePointer<UInt8>, _ length: Int) -> Int {
        let mask = slots.count - 1
        return storage.withUnsafeBufferPointer { keys in
            slots.withUnsafeBufferPointer { slotBuffer in
                entries.withUnsafeBufferPointer { entryBuffer in
                    var slot = Int(truncatingIfNeeded: Self.hash(key, length)) & mask
                    while true {
                        let e = Int(slotBuffer[slot])
                        if e == 0 { return -1 }
                        let entry = entryBuffer[e - 1]
                        if Int(entry.length) == length
                            && (length == 0 || memcmpBytes(keys.baseAddress! + Int(entry.start), key, length))
                        {
                            return Int(entry.rank)
                        }
                        slot = (slot + 1) & mask
                    }
                }
            }
        }
    }

    /// A 64-bit hash of bytes, eight at a time.
    @inline(__always)
    static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        var h = UInt64(n) &* 0x9E37_79B9_7F4A_7C15
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= n {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(p[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 32)
    }
}

@inline(__always)
private func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    var i = 0
    while i < n {
        if a[i] != b[i] { return false }
        i += 1
    }
    return true
}
