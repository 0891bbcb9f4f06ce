//! The rule registry's promises: stable, unique codes and names; complete documentation;
//! every example raising its rule when failing and not when passing, through the whole
//! pipeline; and docs/rules/ generated from exactly this code.

use std::collections::BTreeSet;
use std::path::PathBuf;

use airlock_check::rules::{self, Format, doc};
use airlock_check::{ScanOptions, SourceFile, scan_sources};

/// The examples are read with the account convention their doc pages show; it matters to
/// the ACC rules only.
fn options() -> ScanOptions {
    ScanOptions {
        inline_suppressions: true,
        config: airlock_check::Config::parse(rules::accounts::EXAMPLE_CONVENTION, "airlock.toml")
            .unwrap_or_else(|e| panic!("the example convention: {e}")),
        ..ScanOptions::default()
    }
}

#[test]
fn codes_and_names_are_unique_and_well_formed() {
    let metas = rules::all_meta();
    let mut codes = BTreeSet::new();
    let mut names = BTreeSet::new();
    for meta in &metas {
        assert!(codes.insert(meta.code), "duplicate code {}", meta.code);
        assert!(names.insert(meta.name), "duplicate name {}", meta.name);
        let (prefix, number) = meta.code.split_at(meta.code.len().saturating_sub(3));
        assert!(
            !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && number.chars().all(|c| c.is_ascii_digit()),
            "code {} is not PREFIX + three digits",
            meta.code
        );
        assert!(
            meta.name.split('-').all(|w| !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())),
            "name {} is not kebab-case",
            meta.name
        );
        for (field, text) in [
            ("practice", meta.practice),
            ("what", meta.what),
            ("why", meta.why),
            ("fix", meta.fix),
        ] {
            assert!(text.trim().len() > 10, "{}: `{field}` is empty", meta.code);
        }
        assert!(!meta.formats.is_empty(), "{}: no formats", meta.code);
    }
}

#[test]
fn every_format_of_every_rule_has_an_example() {
    for meta in rules::all_meta() {
        for format in meta.formats {
            if *format == Format::AnyFile {
                continue;
            }
            let covered = meta.examples.iter().any(|e| {
                airlock_check::formats::parse(&SourceFile::new(e.file, e.failing))
                    .iter()
                    .any(|p| p.format == Some(*format))
            });
            assert!(
                covered,
                "{} applies to {} but has no example that parses as {}",
                meta.code,
                format.as_str(),
                format.as_str()
            );
        }
    }
}

#[test]
fn failing_examples_raise_their_rule_and_passing_examples_do_not() {
    let mut problems = Vec::new();
    for meta in rules::all_meta() {
        for example in meta.examples {
            let failing = scan_sources(
                &[SourceFile::new(example.file, example.failing)],
                &options(),
            );
            if !failing.errors.is_empty() {
                problems.push(format!(
                    "{} {} failing example: errors {:?}",
                    meta.code, example.file, failing.errors
                ));
            }
            if !failing
                .findings
                .iter()
                .any(|f| f.rule == meta.code && f.suppressed.is_none())
            {
                problems.push(format!(
                    "{} {}: the failing example does not raise it (found: {:?})",
                    meta.code,
                    example.file,
                    failing.findings.iter().map(|f| f.rule).collect::<Vec<_>>()
                ));
            }
            let passing = scan_sources(
                &[SourceFile::new(example.file, example.passing)],
                &options(),
            );
            if !passing.errors.is_empty() {
                problems.push(format!(
                    "{} {} passing example: errors {:?}",
                    meta.code, example.file, passing.errors
                ));
            }
            if let Some(f) = passing.findings.iter().find(|f| f.rule == meta.code) {
                problems.push(format!(
                    "{} {}: the passing example raises it: {}:{} {}",
                    meta.code, example.file, f.file, f.line, f.message
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn docs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules")
}

#[test]
fn rule_docs_are_generated_from_the_registry() {
    let update = std::env::var_os("AIRLOCK_UPDATE_DOCS").is_some();
    let dir = docs_dir();
    let metas = rules::all_meta();
    let mut pages: Vec<(String, String)> = metas
        .iter()
        .map(|m| (format!("{}.md", m.code), doc::render(m)))
        .collect();
    pages.push(("README.md".into(), doc::render_index(&metas)));
    let mut stale = Vec::new();
    for (name, text) in &pages {
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).expect("create docs/rules");
            std::fs::write(&path, text).expect("write doc page");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    // Pages of rules that no longer exist.
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !pages.iter().any(|(p, _)| *p == name) {
                if update {
                    let _ = std::fs::remove_file(entry.path());
                } else {
                    stale.push(format!("{name} (no such rule)"));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/rules is out of date ({}); run `AIRLOCK_UPDATE_DOCS=1 cargo test -p airlock-check --test rules`",
        stale.join(", ")
    );
}
