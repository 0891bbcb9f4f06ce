//! No front end may panic on any input. Seeds are the rules' own examples (always present)
//! and, when the shared corpora are there, real files from them; proptest mutates them
//! (truncations, deletions, insertions of the characters parsers trip over) and every front
//! end must answer with facts or errors, never a panic.

use std::path::PathBuf;

use airlock_check::{ScanOptions, SourceFile, formats, rules, scan_sources};
use proptest::prelude::*;

/// The corpora, looked up without the CI policy: a panic inside the proptest below would be
/// recorded as a shrunk failure case. `corpus_seeds_are_present` applies the policy instead.
fn corpora() -> Option<PathBuf> {
    let dir = airlock_test_corpora::corpora_dir();
    dir.is_dir().then_some(dir)
}

/// Outside CI the seeds may lack the corpora (a fresh clone); in CI they must include them.
#[test]
fn corpus_seeds_are_present() {
    if airlock_test_corpora::require("no_panic corpus seeds").is_some() {
        assert!(
            seeds().len() > rules::all_meta().len(),
            "no corpus file was added to the seeds"
        );
    }
}

/// (file name, text) seeds: every example, plus up to `per_kind` corpus files per extension.
fn seeds() -> Vec<(String, String)> {
    let mut seeds: Vec<(String, String)> = rules::all_meta()
        .iter()
        .flat_map(|m| m.examples.iter())
        .flat_map(|e| {
            [
                (e.file.to_string(), e.failing.to_string()),
                (e.file.to_string(), e.passing.to_string()),
            ]
        })
        .collect();
    match corpora() {
        None => eprintln!(
            "no_panic: shared corpora not found (AIRLOCK_CORPORA); mutating rule examples only"
        ),
        Some(dir) => {
            let mut per_kind: std::collections::BTreeMap<String, usize> = Default::default();
            for entry in ignore::WalkBuilder::new(dir)
                .hidden(false)
                .build()
                .flatten()
            {
                let path = entry.path();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let kind = match formats::candidate(&name) {
                    formats::Candidate::Other => continue,
                    k => format!("{k:?}"),
                };
                let count = per_kind.entry(kind).or_default();
                if *count >= 12 {
                    continue;
                }
                if let Ok(text) = std::fs::read_to_string(path)
                    && text.len() < 64 * 1024
                {
                    *count += 1;
                    seeds.push((name, text));
                }
            }
        }
    }
    seeds
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Delete(usize, usize),
    Insert(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    const NASTY: [&str; 14] = [
        "\"", "'", "{", "}", "[", "]", ":", "\n", "\\", "<<EOF", "${", "!Ref", "\t- ", "\u{0}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (any::<usize>(), proptest::sample::select(NASTY.to_vec()))
            .prop_map(|(a, s)| Mutation::Insert(a, s)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut s = text.to_string();
    for m in mutations {
        let boundary = |s: &String, at: usize| {
            let mut at = if s.is_empty() { 0 } else { at % (s.len() + 1) };
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            at
        };
        match m {
            Mutation::Truncate(at) => {
                let at = boundary(&s, *at);
                s.truncate(at);
            }
            Mutation::Delete(at, n) => {
                let start = boundary(&s, *at);
                let end = boundary(&s, start.saturating_add(*n).min(s.len()));
                s.replace_range(start..end, "");
            }
            Mutation::Insert(at, text) => {
                let at = boundary(&s, *at);
                s.insert_str(at, text);
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn mutated_inputs_never_panic(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = SEEDS.get_or_init(seeds);
        prop_assume!(!seeds.is_empty());
        let (name, text) = &seeds[seed.index(seeds.len())];
        let mutated = apply(text, &mutations);
        // With a convention, so that the ACC rules run on the mutated AWS config files too.
        let options = ScanOptions {
            inline_suppressions: true,
            config: airlock_check::Config::parse(rules::accounts::EXAMPLE_CONVENTION, "airlock.toml")
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
            ..ScanOptions::default()
        };
        // The assertion is that this returns at all; errors are the expected outcome.
        let result = scan_sources(&[SourceFile::new(name.as_str(), mutated)], &options);
        for error in &result.errors {
            prop_assert!(!error.message.is_empty());
        }
    }
}

static SEEDS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
