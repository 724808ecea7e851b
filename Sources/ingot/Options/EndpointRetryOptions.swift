import ArgumentParser
import Foundation

/// How `--endpoint` requests survive a real server: per-request timeout and retries with backoff.
struct EndpointRetryOptions: ParsableArguments {
    @Option(help: "Seconds to wait for one answer from --endpoint.")
    var timeout: Double = 600

    @Option(
        help:
            "Further attempts after a network error, timeout, HTTP 429, 408 or 5xx (exponential backoff with jitter; Retry-After honoured)."
    )
    var retries: Int = 4

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive, got \(timeout)") }
        guard retries >= 0 else { throw ValidationError("--retries must be 0 or more, got \(retries)") }
    }
}
