"""Real servers for this repository's tests and benchmarks: FerretDB (built from the Go module
proxy) and the Qdrant server binary from ``../shared/qdrant``.

Development tools, not part of the library: this package is left out of the wheel
(``pyproject.toml``) and exists only in a checkout.
"""
