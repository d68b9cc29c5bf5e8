//! Only hosts `tests/compiletest.rs`.
