//! Snapshot of the JSON report on each shared corpus, so that every change in findings shows
//! in review (`cargo insta review`, or `INSTA_UPDATE=always` to accept). Skipped, with a
//! note, when the corpora are absent (AIRLOCK_CORPORA, default ../shared/corpora).

use std::path::PathBuf;

use airlock_check::report::{self, ReportFormat, ReportOptions};
use airlock_check::{ScanOptions, scan};

fn corpora() -> Option<PathBuf> {
    airlock_test_corpora::require("corpus snapshots")
}

fn snapshot(corpus: &str) {
    let Some(root) = corpora() else { return };
    let dir = root.join(corpus);
    let mut result = scan(&ScanOptions {
        paths: vec![dir.clone()],
        inline_suppressions: true,
        ..ScanOptions::default()
    });
    // Paths relative to the corpus, so the snapshot does not depend on where it lives.
    let prefix = format!("{}/", airlock_check::discover::display(&dir));
    for f in &mut result.findings {
        f.file = f.file.strip_prefix(&prefix).unwrap_or(&f.file).to_string();
        // Messages about a file that another one names (a COPY source) quote its path.
        f.message = f.message.replace(&prefix, "");
    }
    for e in result.errors.iter_mut().chain(&mut result.notices) {
        e.file = e.file.strip_prefix(&prefix).unwrap_or(&e.file).to_string();
    }
    let json = report::render(ReportFormat::Json, &result, &ReportOptions::default());
    insta::assert_snapshot!(corpus, json);
}

#[test]
fn reinvent2019_con414() {
    snapshot("reinvent2019-con414");
}

#[test]
fn terragoat() {
    snapshot("terragoat");
}

#[test]
fn terraform_aws_vpc() {
    snapshot("terraform-aws-vpc");
}

#[test]
fn aws_cloudformation_templates() {
    snapshot("aws-cloudformation-templates");
}

#[test]
fn kubernetes_examples() {
    snapshot("kubernetes-examples");
}

/// `--strict-unknowns` on every corpus: the same findings as without it (nothing is
/// dropped), no scan error (nothing fails to parse or panics), and every undecided place
/// names the unknowns it depends on. The list itself is a snapshot, for review.
#[test]
fn strict_unknowns_on_every_corpus() {
    let Some(root) = corpora() else { return };
    let mut listing = String::new();
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    assert!(!names.is_empty(), "no corpus in {}", root.display());
    for corpus in &names {
        let dir = root.join(corpus);
        let options = ScanOptions {
            paths: vec![dir.clone()],
            inline_suppressions: true,
            ..ScanOptions::default()
        };
        let plain = scan(&options);
        let strict = scan(&ScanOptions {
            strict_unknowns: true,
            ..options
        });
        assert_eq!(strict.errors, Vec::new(), "{corpus}: scan errors");
        assert_eq!(
            strict.findings, plain.findings,
            "{corpus}: findings changed"
        );
        assert!(plain.undecided.is_empty());
        let prefix = format!("{}/", airlock_check::discover::display(&dir));
        for undecided in &strict.undecided {
            assert!(
                undecided.message.contains("it depends on `"),
                "{corpus}: {undecided:?}"
            );
            let file = undecided
                .file
                .strip_prefix(&prefix)
                .unwrap_or(&undecided.file);
            listing.push_str(&format!(
                "{corpus}/{file}:{} {} {}\n",
                undecided.line,
                undecided.rule,
                undecided.message.replace(&prefix, "")
            ));
        }
    }
    insta::assert_snapshot!("strict-unknowns", listing);
}
