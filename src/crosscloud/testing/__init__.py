"""Stand-ins for third-party servers, for benchmarks and tests (never imported by the product)."""
