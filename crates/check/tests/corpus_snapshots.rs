//! Snapshot of the JSON report on each shared corpus, so that every change in findings shows
//! in review (`cargo insta review`, or `INSTA_UPDATE=always` to accept). Skipped, with a
//! note, when the corpora are absent (AIRLOCK_CORPORA, default ../shared/corpora).

use std::path::{Path, PathBuf};

use airlock_check::report::{self, ReportFormat, ReportOptions};
use airlock_check::{ScanOptions, scan};

fn corpora() -> Option<PathBuf> {
    let dir = std::env::var_os("AIRLOCK_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: corpora {} not found (set AIRLOCK_CORPORA)",
            dir.display()
        );
        None
    }
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
    for e in &mut result.errors {
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
