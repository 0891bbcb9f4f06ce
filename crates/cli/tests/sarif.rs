//! Every SARIF file airlock writes passes Microsoft's SARIF validator (the SARIF Multitool),
//! with its GitHub code-scanning rules on: small insecure fixtures of every format, a scan
//! with errors, and each shared corpus.
//!
//! The validator is installed by scripts/setup-test-env.sh (scripts/test.sh runs it first).
//! The corpora come from AIRLOCK_CORPORA, by default ../shared/corpora beside the workspace;
//! corpora that are absent are skipped with a note.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{INSECURE_FIXTURES, Scratch, airlock_in, stderr, workspace_root};

const VALIDATOR_DIR: &str = ".tools/sarif/node_modules/@microsoft/sarif-multitool-linux";

struct Validator {
    binary: PathBuf,
    schema: PathBuf,
}

impl Validator {
    fn find() -> Validator {
        let dir = workspace_root().join(VALIDATOR_DIR);
        let validator = Validator {
            binary: dir.join("Sarif.Multitool"),
            schema: dir.join("sarif-2.1.0.json"),
        };
        assert!(
            validator.binary.is_file() && validator.schema.is_file(),
            "the SARIF validator is missing ({}); run scripts/setup-test-env.sh",
            validator.binary.display()
        );
        validator
    }

    /// Panics listing every error and warning the validator reports on `sarif`.
    fn validate(&self, sarif: &Path, what: &str) {
        let problems = self.problems(sarif, what);
        assert!(
            problems.is_empty(),
            "{what}: {} is not valid SARIF:\n{}",
            sarif.display(),
            problems.join("\n")
        );
    }

    /// The validator's errors and warnings on `sarif`. The multitool exits 0 even when the
    /// file is invalid, so its own SARIF output is what is read.
    fn problems(&self, sarif: &Path, what: &str) -> Vec<String> {
        let scratch = Scratch::new("validator");
        let verdict = scratch.path.join("validation.sarif");
        let out = Command::new(&self.binary)
            .arg("validate")
            .arg("--json-schema")
            .arg(&self.schema)
            // SARIF's own rules and GitHub's ingestion rules (GH1001...).
            .args(["--rule-kind", "Sarif;Gh"])
            .args(["--level", "Error;Warning"])
            .arg("--output")
            .arg(&verdict)
            .arg(sarif)
            .env("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")
            .output()
            .expect("run the SARIF validator");
        let console = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{what}: validator failed:\n{console}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&verdict)
            .unwrap_or_else(|e| panic!("{what}: no validator output ({e}):\n{console}"));
        let log: serde_json::Value = serde_json::from_str(&text).expect("validator output");
        let problems: Vec<String> = log["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|run| run["results"].as_array().into_iter().flatten())
            // A result without a level is a warning (SARIF §3.27.10).
            .filter(|r| matches!(r["level"].as_str(), None | Some("error" | "warning")))
            .map(|r| {
                // The validator writes its messages as an id and arguments, not as text.
                let arguments: Vec<&str> = r["message"]["arguments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect();
                format!(
                    "{} {}: {} {}",
                    r["level"].as_str().unwrap_or("warning"),
                    r["ruleId"].as_str().unwrap_or("?"),
                    r["message"]["text"].as_str().unwrap_or_default(),
                    arguments.join("; ")
                )
            })
            .collect();
        problems
    }
}

#[test]
fn the_validator_rejects_what_github_rejects() {
    let validator = Validator::find();
    let dir = Scratch::new("sarif-invalid");
    let report = dir.path.join("empty.sarif");
    scan_to_sarif(&dir.path, &report, &[]);
    let mut log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
    log["runs"][0]["results"] = serde_json::json!([{
        "ruleId": "SUP001",
        "message": {"text": "x."},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": "main.tf", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 0}
        }}]
    }]);
    let broken = dir.path.join("broken.sarif");
    std::fs::write(&broken, log.to_string()).expect("write");
    let problems = validator.problems(&broken, "line 0");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("error") && p.contains("startLine")),
        "a startLine of 0 must be reported: {problems:?}"
    );
}

/// Runs `airlock check --format sarif .` in `dir`, so that paths are relative to it, and
/// returns the report's path.
fn scan_to_sarif(dir: &Path, report: &Path, extra: &[&str]) -> serde_json::Value {
    let report_arg = report.to_string_lossy().into_owned();
    let mut args = vec!["check", "--format", "sarif", "--output", &report_arg];
    args.extend_from_slice(extra);
    args.push(".");
    let out = airlock_in(dir, &args);
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "airlock check in {} ended with {:?}:\n{}",
        dir.display(),
        out.status,
        stderr(&out)
    );
    let text = std::fs::read_to_string(report).expect("the SARIF report");
    serde_json::from_str(&text).expect("SARIF is JSON")
}

#[test]
fn fixtures_of_every_format_give_valid_sarif() {
    let validator = Validator::find();
    let fixtures = Scratch::new("sarif-fixtures");
    for (path, text) in INSECURE_FIXTURES {
        fixtures.write(path, text);
    }
    // A suppressed finding and a suppression without a reason, so that suppressions and the
    // meta-rules appear in the log.
    fixtures.write(
        "suppressed/Dockerfile",
        "# airlock:ignore DKR001 build image, never deployed\nFROM ubuntu:22.04\n# airlock:ignore DKR008\nRUN true\n",
    );
    let out = Scratch::new("sarif-out");
    let report = out.path.join("fixtures.sarif");
    let log = scan_to_sarif(&fixtures.path, &report, &[]);
    validator.validate(&report, "fixtures");

    // With inline suppressions off, the same files give other results; still valid.
    let unsuppressed = out.path.join("unsuppressed.sarif");
    scan_to_sarif(&fixtures.path, &unsuppressed, &["--no-inline-suppressions"]);
    validator.validate(&unsuppressed, "fixtures without suppressions");

    // Every result's rule is described in the driver, at the index the result names.
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    for result in run["results"].as_array().expect("results") {
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], result["ruleId"], "{result}");
    }
}

#[test]
fn scan_errors_give_valid_sarif() {
    let validator = Validator::find();
    let dir = Scratch::new("sarif-errors");
    let report = dir.path.join("errors.sarif");
    let report_arg = report.to_string_lossy().into_owned();
    let out = airlock_in(
        &dir.path,
        &[
            "check",
            "--format",
            "sarif",
            "--output",
            &report_arg,
            "missing-dir",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    validator.validate(&report, "scan errors");
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    assert_eq!(
        invocation["toolExecutionNotifications"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
            ["uri"],
        "missing-dir"
    );
}

#[test]
fn shared_corpora_give_valid_sarif() {
    let validator = Validator::find();
    let Some(corpora) = airlock_test_corpora::require("shared_corpora_give_valid_sarif") else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&corpora) else {
        panic!("cannot list the corpora folder {}", corpora.display());
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let out = Scratch::new("sarif-corpora");
    for dir in &dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let report = out.path.join(format!("{name}.sarif"));
        let log = scan_to_sarif(dir, &report, &[]);
        validator.validate(&report, &name);
        println!(
            "{name}: {} results, valid SARIF",
            log["runs"][0]["results"].as_array().map_or(0, Vec::len)
        );
    }
}
