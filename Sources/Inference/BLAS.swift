internal import COpenBLAS

/// Single-precision matrix products through OpenBLAS's CBLAS interface.
public enum BLAS {
    /// C (m×n) = A (m×k) · Bᵀ where B is stored n×k, all row-major f32: the shape of `x · Wᵀ` for a
    /// batch of activations x (m tokens × k) and a PyTorch weight W (n out × k in).
    /// The corresponding C function is `cblas_sgemm`.
    ///
    /// - Precondition: buffer sizes match the dimensions.
    public static func matmulTransposedB(
        _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
        into c: UnsafeMutableBufferPointer<Float>, m: Int, n: Int, k: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0)
        precondition(a.count >= m * k && b.count >= n * k && c.count >= m * n, "sgemm buffers too small")
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, blasint(m), blasint(n), blasint(k), 1,
            a.baseAddress, blasint(k), b.baseAddress, blasint(k), 0, c.baseAddress, blasint(n))
    }

    /// C (m×n, row stride ldc) = A (m×k) · Bᵀ where B is stored n×k, all row-major f32: the engine's one sgemm call
    /// for `x · Wᵀ` on widened weight panels.
    static func sgemmTransposedB(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, blasint(m), blasint(n), blasint(k), 1, a, blasint(k), b, blasint(k), 0, c,
            blasint(ldc))
    }

    /// Sets OpenBLAS's own thread count; ingot keeps it at 1 while its own `parallelFor` runs.
    /// The corresponding C function is `openblas_set_num_threads`.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(count))
    }
}
