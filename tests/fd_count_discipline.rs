//! Descriptor-counting tests compare `/proc/self/fd` before and after their body, so every
//! other test in the same binary (they run on parallel threads) must hold the same lock —
//! through `net_common::check_fds` or `net_common::exclusive` — or its loop's descriptors
//! appear in one snapshot and not the other. This checks the test sources for that rule.

use std::path::Path;

/// Names of `#[test]` functions in `src` whose body takes neither `check_fds` nor `exclusive`.
fn unlocked_tests(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find("#[test]") {
        rest = &rest[at + "#[test]".len()..];
        let Some(fn_at) = rest.find("fn ") else { break };
        let name: String = rest[fn_at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The body up to the next test (or the end of the file).
        let after_fn = &rest[fn_at..];
        let body = &after_fn[..after_fn.find("#[test]").unwrap_or(after_fn.len())];
        if !body.contains("check_fds(") && !body.contains("exclusive(") {
            out.push(name);
        }
    }
    out
}

#[test]
fn every_test_in_a_descriptor_counting_binary_holds_the_descriptor_lock() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        // This file names the helpers in its own strings; it counts nothing.
        if !src.contains("check_fds(") || path.ends_with("fd_count_discipline.rs") {
            continue;
        }
        for name in unlocked_tests(&src) {
            offenders.push(format!("{}: {name}", path.display()));
        }
    }
    assert!(
        offenders.is_empty(),
        "tests that run beside descriptor counts without the lock: {offenders:#?}"
    );
}

#[test]
fn the_check_finds_a_test_without_the_lock() {
    let src = "#[test]\nfn a() { net_common::check_fds(|| {}); }\n#[test]\nfn b() { simul::run(async {}); }\n";
    assert_eq!(unlocked_tests(src), vec!["b".to_string()]);
}
