//! The JSON report (schema version 1, documented in docs/report-json.md).

use serde::Serialize;

use super::{ReportOptions, Summary, TOOL_NAME, TOOL_VERSION};
use crate::ScanResult;
use crate::finding::{Finding, Severity};

/// Bumped only on a breaking change to the shape below; adding fields is not breaking.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    tool: Tool,
    findings: Vec<FindingOut<'a>>,
    /// With `--strict-unknowns` only: where a rule could not decide, in the findings' shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    undecided: Option<Vec<FindingOut<'a>>>,
    errors: Vec<ErrorOut<'a>>,
    /// What was not evaluated though not an error (a registry module): present when any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notices: Vec<ErrorOut<'a>>,
    summary: SummaryOut<'a>,
}

/// The summary's counts and, in JSON only, the files scanned by format.
#[derive(Serialize)]
struct SummaryOut<'a> {
    #[serde(flatten)]
    counts: Summary,
    files_by_format: &'a std::collections::BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct FindingOut<'a> {
    rule: &'a str,
    name: &'a str,
    severity: Severity,
    file: &'a str,
    line: u32,
    end_line: u32,
    resource: &'a str,
    message: &'a str,
    fingerprint: &'a str,
    /// null, or the suppression's reason.
    suppressed: Option<&'a str>,
}

impl<'a> FindingOut<'a> {
    fn of(f: &'a Finding) -> Self {
        FindingOut {
            rule: f.rule,
            name: f.name,
            severity: f.severity,
            file: &f.file,
            line: f.line,
            end_line: f.end_line.max(f.line),
            resource: &f.resource,
            message: &f.message,
            fingerprint: &f.fingerprint,
            suppressed: f.suppressed.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    file: &'a str,
    /// null when the problem is the whole file.
    line: Option<u32>,
    message: &'a str,
}

pub fn render(result: &ScanResult, options: &ReportOptions) -> String {
    let report = Report {
        version: SCHEMA_VERSION,
        tool: Tool {
            name: TOOL_NAME,
            version: TOOL_VERSION,
        },
        findings: result.findings.iter().map(FindingOut::of).collect(),
        undecided: result
            .strict_unknowns
            .then(|| result.undecided.iter().map(FindingOut::of).collect()),
        errors: result
            .errors
            .iter()
            .map(|e| ErrorOut {
                file: &e.file,
                line: (e.line > 0).then_some(e.line),
                message: &e.message,
            })
            .collect(),
        notices: result
            .notices
            .iter()
            .map(|e| ErrorOut {
                file: &e.file,
                line: (e.line > 0).then_some(e.line),
                message: &e.message,
            })
            .collect(),
        summary: SummaryOut {
            counts: Summary::of(result, options),
            files_by_format: &result.files_by_format,
        },
    };
    // Serialising plain structs of strings and numbers cannot fail.
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn report() -> serde_json::Value {
        let options = ReportOptions {
            baselined: 2,
            ..ReportOptions::default()
        };
        serde_json::from_str(&render(&testdata::result(), &options)).expect("valid JSON")
    }

    #[test]
    fn has_the_documented_shape() {
        let json = report();
        assert_eq!(json["version"], 1);
        assert_eq!(json["tool"]["name"], "airlock");
        assert_eq!(json["tool"]["version"], TOOL_VERSION);
        let first = &json["findings"][0];
        assert_eq!(first["rule"], "SUP001");
        assert_eq!(first["name"], "test-rule");
        assert_eq!(first["severity"], "critical");
        assert_eq!(first["file"], "infra/main.tf");
        assert_eq!(first["line"], 12);
        assert_eq!(first["end_line"], 13);
        assert_eq!(first["resource"], "aws_security_group.web");
        assert_eq!(first["message"], "SUP001 message");
        assert!(first["fingerprint"].as_str().is_some_and(|f| f.len() == 16));
        assert!(first["suppressed"].is_null());
        assert_eq!(json["summary"]["critical"], 1);
        assert_eq!(json["summary"]["suppressed"], 1);
        assert_eq!(json["summary"]["baselined"], 2);
        assert_eq!(json["summary"]["files_scanned"], 5);
        assert!(json["summary"]["files_by_format"].is_object());
        assert_eq!(json["summary"]["errors"], 2);
    }

    #[test]
    fn suppressed_findings_carry_their_reason() {
        let json = report();
        let suppressed: Vec<&serde_json::Value> = json["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| !f["suppressed"].is_null())
            .collect();
        assert_eq!(suppressed.len(), 1);
        assert_eq!(suppressed[0]["suppressed"], "bastion, VPN only");
    }

    #[test]
    fn errors_have_file_line_and_message() {
        let json = report();
        assert_eq!(json["errors"][0]["file"], "broken.yaml");
        assert_eq!(json["errors"][0]["line"], 4);
        assert_eq!(
            json["errors"][0]["message"],
            "mapping values are not allowed here"
        );
        assert!(
            json["errors"][1]["line"].is_null(),
            "whole-file errors have no line"
        );
    }

    #[test]
    fn special_characters_survive_a_round_trip() {
        let json = report();
        assert_eq!(
            json["findings"][3]["message"],
            "50% <of> \"x\" & 'y'\nline two\r"
        );
    }
}
