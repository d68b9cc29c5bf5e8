//! Compile tests of `#[moesif_logger]`: `ui/pass` must build, `ui/fail` must fail with the `.stderr`
//! beside it. Regenerate snapshots with `TRYBUILD=overwrite cargo test -p moesif-lambda-ui-tests` and
//! review the diff like code.

#[test]
fn ui() {
    let tests = trybuild::TestCases::new();
    tests.pass("tests/ui/pass/*.rs");
    tests.compile_fail("tests/ui/fail/*.rs");
}
