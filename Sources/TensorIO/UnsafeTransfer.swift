/// Hands a non-Sendable value (a buffer pointer, a closure) to concurrent workers that use it without races:
/// disjoint outputs, read-only inputs, or memory kept alive by an owner until the asynchronous use ends.
package struct UnsafeTransfer<Value>: @unchecked Sendable {
    package let value: Value
    package init(_ value: Value) { self.value = value }
}
