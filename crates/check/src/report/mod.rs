//! Reports: human, JSON, SARIF 2.1.0, JUnit XML and GitHub annotations.
//!
//! Every report is a pure function of a [`ScanResult`] and [`ReportOptions`]: the same input
//! gives byte-identical output, so reports can be diffed, cached and committed. Findings keep
//! the scan's order (file, line, rule); maps are ordered.
//!
//! Which findings appear: every format lists unsuppressed findings; JSON, SARIF and JUnit also
//! list suppressed ones, marked with the reason, so audits see accepted risks. Findings
//! covered by a baseline are left out before rendering and only counted
//! ([`ReportOptions::baselined`]). Scan errors appear in every format.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ScanResult;
use crate::finding::{Finding, Severity};
use crate::rules::RuleMeta;
use crate::source::SourceFile;

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod sarif;

/// The tool's name in reports.
pub const TOOL_NAME: &str = "airlock";
/// The tool's version in reports.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where people learn about the tool (SARIF `informationUri`).
pub const TOOL_URI: &str = "https://github.com/airlock-dev/airlock";

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Human,
    Json,
    Sarif,
    Junit,
    Github,
}

/// What a report needs besides the scan result.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// ANSI colours in the human report (the CLI decides: a terminal and no NO_COLOR, or
    /// `--color always`). Other formats ignore it.
    pub color: bool,
    /// Findings left out because the baseline covers them.
    pub baselined: usize,
    /// File texts by path, for code excerpts in the human report. A finding whose file is
    /// missing here is shown without an excerpt.
    pub sources: BTreeMap<String, SourceFile>,
}

/// Renders `result` in `format`.
pub fn render(format: ReportFormat, result: &ScanResult, options: &ReportOptions) -> String {
    match format {
        ReportFormat::Human => human::render(result, options),
        ReportFormat::Json => json::render(result, options),
        ReportFormat::Sarif => sarif::render(result, options),
        ReportFormat::Junit => junit::render(result, options),
        ReportFormat::Github => github::render(result, options),
    }
}

/// Reads the files that findings point at, for excerpts. Unreadable files are skipped: an
/// excerpt is a convenience, and the scan already reported files it could not read.
pub fn read_sources(result: &ScanResult) -> BTreeMap<String, SourceFile> {
    let mut sources = BTreeMap::new();
    for finding in &result.findings {
        if sources.contains_key(&finding.file) {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&finding.file) {
            sources.insert(
                finding.file.clone(),
                SourceFile::new(finding.file.as_str(), text),
            );
        }
    }
    sources
}

/// Counts for the summary of every format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Unsuppressed findings by severity.
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    /// Unsuppressed findings in all.
    pub total: usize,
    /// Findings covered by an inline suppression.
    pub suppressed: usize,
    /// Findings left out because the baseline covers them.
    pub baselined: usize,
    pub errors: usize,
    pub files_scanned: usize,
}

impl Summary {
    pub fn of(result: &ScanResult, options: &ReportOptions) -> Summary {
        let mut summary = Summary {
            baselined: options.baselined,
            errors: result.errors.len(),
            files_scanned: result.files_scanned,
            ..Summary::default()
        };
        for finding in &result.findings {
            if finding.suppressed.is_some() {
                summary.suppressed += 1;
                continue;
            }
            summary.total += 1;
            match finding.severity {
                Severity::Critical => summary.critical += 1,
                Severity::High => summary.high += 1,
                Severity::Medium => summary.medium += 1,
                Severity::Low => summary.low += 1,
            }
        }
        summary
    }

    /// One line: `3 findings (1 critical, 2 high), 1 suppressed, 0 baselined, 0 errors, 12
    /// files scanned`.
    pub fn line(&self) -> String {
        let by_severity: Vec<String> = [
            (self.critical, "critical"),
            (self.high, "high"),
            (self.medium, "medium"),
            (self.low, "low"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, s)| format!("{n} {s}"))
        .collect();
        let mut line = plural(self.total, "finding", "findings");
        if !by_severity.is_empty() {
            line.push_str(&format!(" ({})", by_severity.join(", ")));
        }
        line.push_str(&format!(
            ", {} suppressed, {} baselined, {}, {} scanned",
            self.suppressed,
            self.baselined,
            plural(self.errors, "error", "errors"),
            plural(self.files_scanned, "file", "files"),
        ));
        line
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The metadata of the finding's rule, if the registry knows it.
pub(crate) fn meta_of(finding: &Finding) -> Option<&'static RuleMeta> {
    crate::rules::find(finding.rule)
}

/// Rules whose findings are about a secret's value: the lines they point at hold the secret,
/// so no report shows those lines, only the rule's masked message.
pub(crate) fn excerpt_may_hold_secret(code: &str) -> bool {
    code.starts_with("SEC") || matches!(code, "ECS006" | "K8S011")
}

/// One rule as `--list-rules` shows it.
#[derive(Debug, Serialize)]
struct RuleListing {
    code: &'static str,
    name: &'static str,
    severity: Severity,
    formats: Vec<&'static str>,
    practice: &'static str,
    doc_url: String,
    /// checkov check ids for the same mistake; bench/parity.sh reads its mapping from here.
    checkov: &'static [&'static str],
}

fn listings() -> Vec<RuleListing> {
    crate::rules::all_meta()
        .into_iter()
        .map(|meta| RuleListing {
            code: meta.code,
            name: meta.name,
            severity: meta.severity,
            formats: meta.formats.iter().map(|f| f.as_str()).collect(),
            practice: meta.practice,
            doc_url: meta.doc_url(),
            checkov: meta.checkov,
        })
        .collect()
}

/// `--list-rules` as text: one block per rule.
pub fn list_rules_text() -> String {
    let mut out = String::new();
    for rule in listings() {
        out.push_str(&format!(
            "{}  {}  ({})\n    {}\n    formats: {}\n    {}\n",
            rule.code,
            rule.name,
            rule.severity,
            rule.practice,
            rule.formats.join(", "),
            rule.doc_url
        ));
    }
    out
}

/// `--list-rules --format json`: an array of `{code, name, severity, formats, practice,
/// doc_url, checkov}` in code order.
pub fn list_rules_json() -> String {
    let mut text = serde_json::to_string_pretty(&listings()).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

#[cfg(test)]
pub(crate) mod testdata {
    use super::*;
    use crate::finding::ScanError;
    use crate::node::Span;

    /// A finding as a rule would make it, without running a rule.
    pub fn finding(rule: &'static str, severity: Severity, file: &str, line: u32) -> Finding {
        Finding {
            rule,
            name: "test-rule",
            severity,
            file: file.to_string(),
            line,
            end_line: line + 1,
            resource: "aws_security_group.web".into(),
            resource_span: Span::new(line, line + 1),
            message: format!("{rule} message"),
            fingerprint: crate::finding::fingerprint(&[rule, file, &line.to_string()]),
            suppressed: None,
        }
    }

    /// Findings of every severity, one suppressed, one with characters every format must
    /// escape, and two scan errors.
    pub fn result() -> ScanResult {
        let mut suppressed = finding("SUP002", Severity::Low, "infra/main.tf", 30);
        suppressed.suppressed = Some("bastion, VPN only".into());
        let mut tricky = finding("SUP001", Severity::Medium, "k8s/a b,c:d.yaml", 3);
        tricky.message = "50% <of> \"x\" & 'y'\nline two\r".into();
        tricky.resource = "Deployment/default/web".into();
        ScanResult {
            findings: vec![
                finding("SUP001", Severity::Critical, "infra/main.tf", 12),
                finding("SUP001", Severity::High, "infra/main.tf", 20),
                suppressed,
                tricky,
            ],
            errors: vec![
                ScanError {
                    file: "broken.yaml".into(),
                    line: 4,
                    message: "mapping values are not allowed here".into(),
                },
                ScanError {
                    file: "unreadable.tf".into(),
                    line: 0,
                    message: "not UTF-8".into(),
                },
            ],
            files_scanned: 5,
            notices: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_unsuppressed_findings_by_severity() {
        let options = ReportOptions {
            baselined: 3,
            ..ReportOptions::default()
        };
        let summary = Summary::of(&testdata::result(), &options);
        assert_eq!(
            summary,
            Summary {
                critical: 1,
                high: 1,
                medium: 1,
                low: 0,
                total: 3,
                suppressed: 1,
                baselined: 3,
                errors: 2,
                files_scanned: 5,
            }
        );
        assert_eq!(
            summary.line(),
            "3 findings (1 critical, 1 high, 1 medium), 1 suppressed, 3 baselined, 2 errors, 5 files scanned"
        );
    }

    #[test]
    fn every_format_is_deterministic() {
        let result = testdata::result();
        let options = ReportOptions::default();
        for format in [
            ReportFormat::Human,
            ReportFormat::Json,
            ReportFormat::Sarif,
            ReportFormat::Junit,
            ReportFormat::Github,
        ] {
            let first = render(format, &result, &options);
            assert!(!first.is_empty(), "{format:?}");
            assert_eq!(
                first,
                render(format, &result.clone(), &options),
                "{format:?}"
            );
        }
    }

    #[test]
    fn rule_lists_name_every_rule() {
        let json: serde_json::Value =
            serde_json::from_str(&list_rules_json()).expect("list is JSON");
        let rules = json.as_array().expect("an array");
        assert_eq!(rules.len(), crate::rules::all_meta().len());
        let sup = rules
            .iter()
            .find(|r| r["code"] == "SUP001")
            .expect("SUP001 listed");
        assert_eq!(sup["name"], "suppression-without-reason");
        assert_eq!(sup["severity"], "medium");
        assert!(sup["formats"].as_array().is_some_and(|f| !f.is_empty()));
        assert!(
            sup["doc_url"]
                .as_str()
                .is_some_and(|u| u.ends_with("SUP001.md"))
        );
        assert!(sup["practice"].as_str().is_some_and(|p| !p.is_empty()));

        let text = list_rules_text();
        assert!(
            text.contains("SUP001  suppression-without-reason  (medium)"),
            "{text}"
        );
        assert!(text.contains("docs/rules/SUP002.md"), "{text}");
    }

    #[test]
    fn secret_rules_never_get_excerpts() {
        assert!(excerpt_may_hold_secret("SEC001"));
        assert!(excerpt_may_hold_secret("K8S011"));
        assert!(!excerpt_may_hold_secret("NET001"));
    }
}
