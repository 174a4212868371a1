//! Cross-crate integration tests for exo live in `tests/integration/`; this library is empty.
