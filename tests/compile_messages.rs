//! The compiler's messages for the mistakes a newcomer makes first: each case in
//! `tests/ui/` must fail to compile with the message in its `.stderr` file, and each case
//! in `tests/ui/pass/` must compile (some deny warnings that must not fire) and run.
//!
//! Regenerate the expected output after a deliberate change with
//! `TRYBUILD=overwrite cargo test --test compile_messages`.

#[test]
fn compile_fail_messages() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
