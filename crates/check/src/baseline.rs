//! Baselines: the fingerprints of findings a team has accepted for now, so that adopting
//! airlock on an existing code base fails the build only on new problems.
//!
//! The file is JSON, sorted, one entry per fingerprint, with the rule and file beside each
//! fingerprint so that a reviewer can read a baseline diff:
//!
//! ```json
//! {
//!   "version": 1,
//!   "findings": [
//!     { "fingerprint": "0a1b2c3d4e5f6071", "rule": "NET001", "file": "infra/main.tf" }
//!   ]
//! }
//! ```
//!
//! Fingerprints do not depend on line numbers, so moving code keeps its findings baselined;
//! renaming the resource or the file makes them new.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ScanResult;
use crate::finding::Finding;

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Fingerprint to (rule, file).
    entries: BTreeMap<String, (String, String)>,
}

#[derive(Debug, thiserror::Error)]
#[error("baseline {path}: {message}")]
pub struct BaselineError {
    pub path: String,
    pub message: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    findings: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    fingerprint: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    file: String,
}

impl Baseline {
    /// The unsuppressed findings: suppressed ones are accepted in the code already.
    pub fn from_findings(findings: &[Finding]) -> Baseline {
        let entries = findings
            .iter()
            .filter(|f| f.suppressed.is_none())
            .map(|f| (f.fingerprint.clone(), (f.rule.to_string(), f.file.clone())))
            .collect();
        Baseline { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, fingerprint: &str) -> bool {
        self.entries.contains_key(fingerprint)
    }

    pub fn to_json(&self) -> String {
        let file = File {
            version: VERSION,
            findings: self
                .entries
                .iter()
                .map(|(fingerprint, (rule, file))| Entry {
                    fingerprint: fingerprint.clone(),
                    rule: rule.clone(),
                    file: file.clone(),
                })
                .collect(),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses a baseline; `path` names the file in errors.
    pub fn parse(text: &str, path: &str) -> Result<Baseline, BaselineError> {
        let error = |message: String| BaselineError {
            path: path.to_string(),
            message,
        };
        let file: File = serde_json::from_str(text).map_err(|e| error(e.to_string()))?;
        if file.version != VERSION {
            return Err(error(format!(
                "version {} is not supported (this airlock reads version {VERSION})",
                file.version
            )));
        }
        let entries = file
            .findings
            .into_iter()
            .map(|e| (e.fingerprint, (e.rule, e.file)))
            .collect();
        Ok(Baseline { entries })
    }

    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| BaselineError {
            path: display.clone(),
            message: e.to_string(),
        })?;
        Baseline::parse(&text, &display)
    }

    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        std::fs::write(path, self.to_json()).map_err(|e| BaselineError {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Leaves out the unsuppressed findings the baseline covers and returns how many.
    /// Suppressed findings stay: their suppression, not the baseline, accounts for them.
    pub fn apply(&self, result: &mut ScanResult) -> usize {
        let before = result.findings.len();
        result
            .findings
            .retain(|f| f.suppressed.is_some() || !self.contains(&f.fingerprint));
        before - result.findings.len()
    }

    /// The fingerprints, sorted.
    pub fn fingerprints(&self) -> BTreeSet<&str> {
        self.entries.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;
    use crate::report::testdata;

    #[test]
    fn round_trips_through_json() {
        let result = testdata::result();
        let baseline = Baseline::from_findings(&result.findings);
        assert_eq!(baseline.len(), 3, "the suppressed finding is not baselined");
        let text = baseline.to_json();
        let back = Baseline::parse(&text, "b.json").expect("parses");
        assert_eq!(back, baseline);
        assert_eq!(back.to_json(), text, "byte-identical on rewrite");

        let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(json["version"], 1);
        let entries = json["findings"].as_array().expect("findings");
        let fingerprints: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["fingerprint"].as_str())
            .collect();
        let mut sorted = fingerprints.clone();
        sorted.sort_unstable();
        assert_eq!(fingerprints, sorted);
        assert!(
            entries
                .iter()
                .all(|e| e["rule"].is_string() && e["file"].is_string())
        );
    }

    #[test]
    fn files_round_trip_on_disk() {
        let dir = std::env::temp_dir().join(format!("airlock-baseline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("baseline.json");
        let baseline = Baseline::from_findings(&testdata::result().findings);
        baseline.write(&path).expect("write");
        assert_eq!(Baseline::load(&path).expect("load"), baseline);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn apply_leaves_out_baselined_findings_and_counts_them() {
        let mut result = testdata::result();
        let baseline = Baseline::from_findings(&result.findings[..1]);
        let new = testdata::finding("SUP001", Severity::High, "new.tf", 1);
        result.findings.push(new.clone());
        let left_out = baseline.apply(&mut result);
        assert_eq!(left_out, 1);
        assert_eq!(result.findings.len(), 4);
        assert!(result.findings.contains(&new));
        assert!(
            !result
                .findings
                .iter()
                .any(|f| baseline.contains(&f.fingerprint))
        );
    }

    #[test]
    fn fingerprints_survive_line_moves() {
        let mut result = testdata::result();
        let baseline = Baseline::from_findings(&result.findings);
        for f in &mut result.findings {
            f.line += 7;
            f.end_line += 7;
        }
        assert_eq!(baseline.apply(&mut result), 3);
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let err = Baseline::parse("{", "ci/baseline.json").expect_err("broken JSON");
        assert!(
            err.to_string().starts_with("baseline ci/baseline.json: "),
            "{err}"
        );
        let err = Baseline::parse(r#"{"version": 2, "findings": []}"#, "b.json")
            .expect_err("future version");
        assert!(
            err.to_string().contains("version 2 is not supported"),
            "{err}"
        );
        let missing = Baseline::load(Path::new("/nonexistent/airlock/baseline.json"))
            .expect_err("missing file");
        assert!(
            missing
                .to_string()
                .contains("/nonexistent/airlock/baseline.json")
        );
    }
}
