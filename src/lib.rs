//! The workspace root package: it only hosts the integration tests (`tests/`), the examples and the benches.
