//! Only hosts `tests/compiletest.rs` (trybuild: what compiles, and the errors misuse gets) and
//! `tests/lint_clean.rs` (clippy: the expansion adds no lint to the handlers it wraps).
