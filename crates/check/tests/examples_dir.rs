//! The README's quick start scans `examples/`: the fixed samples must be clean and the
//! insecure ones must show every family of mistakes, with no parse errors in either.

use std::collections::BTreeSet;
use std::path::PathBuf;

use airlock_check::{ScanOptions, scan};

fn examples(which: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(which)
}

fn options(which: &str) -> ScanOptions {
    ScanOptions {
        paths: vec![examples(which)],
        inline_suppressions: true,
        ..ScanOptions::default()
    }
}

#[test]
fn fixed_examples_are_clean() {
    let result = scan(&options("fixed"));
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let findings: Vec<String> = result
        .findings
        .iter()
        .map(|f| format!("{}:{} {} {}", f.file, f.line, f.rule, f.message))
        .collect();
    assert!(
        findings.is_empty(),
        "fixed examples raise:\n{}",
        findings.join("\n")
    );
    assert_eq!(result.files_scanned, 6);
}

#[test]
fn insecure_examples_show_every_family_in_every_file() {
    let result = scan(&options("insecure"));
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let families: BTreeSet<&str> = result
        .findings
        .iter()
        .map(|f| f.rule.trim_end_matches(|c: char| c.is_ascii_digit()))
        .collect();
    for family in ["NET", "SEC", "ECS", "K8S", "DKR", "ECR", "IAM", "LOG"] {
        assert!(
            families.contains(family),
            "no {family} finding in examples/insecure: {families:?}"
        );
    }
    let files: BTreeSet<&str> = result.findings.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(
        files.len(),
        6,
        "every insecure file has findings: {files:?}"
    );
    for f in &result.findings {
        assert!(
            !f.message.contains("Tr0ub4dor") && !f.message.contains("c2VjcmV0LXRva2Vu"),
            "a secret value leaked into a message: {}",
            f.message
        );
    }
}
