/// One routed expert of one decoder layer: the key for anything kept per expert (extents, caches, hashes).
///
/// A value type instead of an `[Int]` pair, so a key cannot have the wrong length or the fields swapped silently.
public struct ExpertID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Decoder layer.
    public let layer: Int
    /// Routed expert index within the layer.
    public let expert: Int

    /// Creates an expert identifier.
    public init(layer: Int, expert: Int) {
        self.layer = layer
        self.expert = expert
    }

    /// "layer L expert E", as findings and messages spell it.
    public var description: String { "layer \(layer) expert \(expert)" }

    public static func < (a: ExpertID, b: ExpertID) -> Bool { (a.layer, a.expert) < (b.layer, b.expert) }
}
