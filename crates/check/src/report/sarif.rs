//! SARIF 2.1.0, as GitHub code scanning and other SARIF consumers read it.
//!
//! GitHub rejects or misplaces results that break its rules, so: every rule in the registry
//! is described (id, name, descriptions, help, `security-severity`), locations are relative
//! URIs under `%SRCROOT%` with 1-based lines, and `partialFingerprints` carries airlock's own
//! line-independent fingerprint so that alerts survive code moving. Scan errors become tool
//! execution notifications, so a SARIF upload shows them too.

use serde_json::{Value, json};

use super::{ReportOptions, TOOL_NAME, TOOL_URI, TOOL_VERSION};
use crate::ScanResult;
use crate::finding::{Finding, ScanError, Severity};
use crate::rules::RuleMeta;

pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
pub const FINGERPRINT_KEY: &str = "airlock/v1";
const SRCROOT: &str = "%SRCROOT%";

pub fn render(result: &ScanResult, _options: &ReportOptions) -> String {
    let metas = crate::rules::all_meta();
    let rules: Vec<Value> = metas.iter().map(|m| rule(m)).collect();
    let mut results: Vec<Value> = result
        .findings
        .iter()
        .map(|f| finding(f, metas.iter().position(|m| m.code == f.rule)))
        .collect();
    // An undecided place is a result for a person to review, not a failure: SARIF's
    // `kind: review`, whose level must then be `none`.
    results.extend(result.undecided.iter().map(|f| {
        let mut review = finding(f, metas.iter().position(|m| m.code == f.rule));
        review["kind"] = json!("review");
        review["level"] = json!("none");
        review
    }));
    let mut notifications: Vec<Value> = result.errors.iter().map(notification).collect();
    // What was not evaluated (a registry module) is a note, not an error.
    notifications.extend(result.notices.iter().map(|notice| {
        let mut note = notification(notice);
        note["level"] = json!("note");
        note["descriptor"] = json!({ "id": "not-evaluated" });
        note
    }));
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": TOOL_NAME,
                    "version": TOOL_VERSION,
                    "semanticVersion": TOOL_VERSION,
                    "informationUri": TOOL_URI,
                    "rules": rules,
                }
            },
            "invocations": [{
                // The scan ran to the end; a file it could not parse makes its results
                // incomplete, which is what `executionSuccessful: false` says.
                "executionSuccessful": result.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    let mut text = serde_json::to_string_pretty(&log).unwrap_or_default();
    text.push('\n');
    text
}

/// GitHub's scale: 9.0 and above is critical, 7.0 high, 4.0 medium, below that low.
pub fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn rule(meta: &RuleMeta) -> Value {
    let mut tags = vec!["security".to_string()];
    tags.extend(meta.formats.iter().map(|f| f.as_str().to_string()));
    let doc = meta.doc_url();
    let text = format!(
        "{}\n\nWhy: {}\n\nFix: {}\n\nDocumentation: {doc}",
        meta.what, meta.why, meta.fix
    );
    let markdown = format!(
        "{}\n\n**Why it matters.** {}\n\n**How to fix it.** {}\n\n[Rule documentation]({doc})",
        meta.what, meta.why, meta.fix
    );
    json!({
        "id": meta.code,
        "name": meta.name,
        "shortDescription": { "text": sentence(meta.practice) },
        "fullDescription": { "text": sentence(meta.what) },
        "help": { "text": text, "markdown": markdown },
        "helpUri": doc,
        "defaultConfiguration": { "level": level(meta.severity) },
        "properties": {
            "security-severity": security_severity(meta.severity),
            "tags": tags,
        },
    })
}

fn finding(f: &Finding, rule_index: Option<usize>) -> Value {
    let line = f.line.max(1);
    let mut result = json!({
        "ruleId": f.rule,
        "level": level(f.severity),
        // Rule messages name the resource already.
        "message": { "text": sentence(&f.message) },
        "locations": [location(&f.file, line, f.end_line.max(line))],
        "partialFingerprints": { FINGERPRINT_KEY: f.fingerprint },
    });
    if let Some(index) = rule_index {
        result["ruleIndex"] = json!(index);
    }
    if let Some(reason) = &f.suppressed {
        result["suppressions"] = json!([{ "kind": "inSource", "justification": reason }]);
    }
    result
}

fn notification(error: &ScanError) -> Value {
    let mut location = location(&error.file, error.line, error.line);
    if error.line == 0 {
        // The whole file: a region with line 0 is invalid, so there is none.
        if let Some(physical) = location.get_mut("physicalLocation")
            && let Some(map) = physical.as_object_mut()
        {
            map.remove("region");
        }
    }
    json!({
        "level": "error",
        "message": { "text": sentence(&error.to_string()) },
        "locations": [location],
        "descriptor": { "id": "parse-error" },
    })
}

fn location(file: &str, line: u32, end_line: u32) -> Value {
    let artifact = if file.starts_with('/') {
        // Outside any source root: an absolute file URI.
        json!({ "uri": format!("file://{}", encode_path(file)) })
    } else {
        json!({ "uri": encode_path(relative(file)), "uriBaseId": SRCROOT })
    };
    json!({
        "physicalLocation": {
            "artifactLocation": artifact,
            "region": { "startLine": line.max(1), "endLine": end_line.max(line).max(1) },
        }
    })
}

/// `./infra/main.tf` and `infra/main.tf` are the same artifact.
fn relative(file: &str) -> &str {
    let mut path = file;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    path
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`, so that spaces,
/// `%`, `#` and non-ASCII names make valid URIs.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// SARIF asks messages and descriptions to be sentences ending in a period.
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn log() -> Value {
        serde_json::from_str(&render(&testdata::result(), &ReportOptions::default()))
            .expect("valid JSON")
    }

    #[test]
    fn describes_the_tool_and_every_rule() {
        let log = log();
        assert_eq!(log["version"], "2.1.0");
        assert_eq!(log["$schema"], SCHEMA);
        let driver = &log["runs"][0]["tool"]["driver"];
        assert_eq!(driver["name"], "airlock");
        assert_eq!(driver["informationUri"], TOOL_URI);
        let rules = driver["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), crate::rules::all_meta().len());
        let sup001 = rules
            .iter()
            .find(|r| r["id"] == "SUP001")
            .expect("SUP001 described");
        assert_eq!(sup001["name"], "suppression-without-reason");
        assert_eq!(sup001["properties"]["security-severity"], "5.5");
        assert_eq!(sup001["defaultConfiguration"]["level"], "warning");
        assert!(
            sup001["help"]["markdown"]
                .as_str()
                .is_some_and(|m| m.contains("**How to fix it.**"))
        );
        assert!(
            sup001["helpUri"]
                .as_str()
                .is_some_and(|u| u.ends_with("SUP001.md"))
        );
        assert!(
            sup001["properties"]["tags"]
                .as_array()
                .is_some_and(|t| t[0] == "security")
        );
    }

    #[test]
    fn results_point_at_relative_files_with_stable_fingerprints() {
        let log = log();
        let results = log["runs"][0]["results"].as_array().expect("results");
        assert_eq!(results.len(), 4);
        let first = &results[0];
        assert_eq!(first["ruleId"], "SUP001");
        let index = first["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(
            log["runs"][0]["tool"]["driver"]["rules"][index]["id"],
            "SUP001"
        );
        assert_eq!(first["level"], "error");
        assert_eq!(first["message"]["text"], "SUP001 message.");
        let physical = &first["locations"][0]["physicalLocation"];
        assert_eq!(physical["artifactLocation"]["uri"], "infra/main.tf");
        assert_eq!(physical["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(physical["region"]["startLine"], 12);
        assert_eq!(physical["region"]["endLine"], 13);
        assert_eq!(
            first["partialFingerprints"]["airlock/v1"],
            testdata::result().findings[0].fingerprint.as_str()
        );
        // Special characters in paths are percent-encoded.
        assert_eq!(
            results[3]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "k8s/a%20b%2Cc%3Ad.yaml"
        );
    }

    #[test]
    fn fingerprints_do_not_change_when_lines_move() {
        let mut moved = testdata::result();
        moved.findings[0].line += 10;
        moved.findings[0].end_line += 10;
        let a: Value = log();
        let b: Value =
            serde_json::from_str(&render(&moved, &ReportOptions::default())).expect("JSON");
        assert_eq!(
            a["runs"][0]["results"][0]["partialFingerprints"],
            b["runs"][0]["results"][0]["partialFingerprints"]
        );
    }

    #[test]
    fn suppressed_findings_carry_an_in_source_suppression() {
        let log = log();
        let suppressed = &log["runs"][0]["results"][2];
        assert_eq!(
            suppressed["suppressions"],
            json!([{ "kind": "inSource", "justification": "bastion, VPN only" }])
        );
        assert!(log["runs"][0]["results"][0].get("suppressions").is_none());
    }

    #[test]
    fn errors_are_tool_execution_notifications() {
        let log = log();
        let invocation = &log["runs"][0]["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        let notes = invocation["toolExecutionNotifications"]
            .as_array()
            .expect("notifications");
        assert_eq!(notes.len(), 2);
        assert_eq!(notes[0]["level"], "error");
        assert_eq!(
            notes[0]["message"]["text"],
            "broken.yaml:4: mapping values are not allowed here."
        );
        assert_eq!(
            notes[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            4
        );
        // A whole-file error has no region rather than an invalid line 0.
        assert!(
            notes[1]["locations"][0]["physicalLocation"]
                .get("region")
                .is_none()
        );
    }

    #[test]
    fn lines_are_never_zero_and_paths_are_normalised() {
        let mut result = testdata::result();
        result.findings[0].line = 0;
        result.findings[0].end_line = 0;
        result.findings[0].file = "./././infra/main.tf".into();
        let log: Value =
            serde_json::from_str(&render(&result, &ReportOptions::default())).expect("JSON");
        let physical = &log["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert_eq!(physical["region"]["startLine"], 1);
        assert_eq!(physical["region"]["endLine"], 1);
        assert_eq!(physical["artifactLocation"]["uri"], "infra/main.tf");
    }

    #[test]
    fn absolute_paths_become_file_uris() {
        let mut result = testdata::result();
        result.findings[0].file = "/tmp/x y/main.tf".into();
        let log: Value =
            serde_json::from_str(&render(&result, &ReportOptions::default())).expect("JSON");
        let artifact =
            &log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
        assert_eq!(artifact["uri"], "file:///tmp/x%20y/main.tf");
        assert!(artifact.get("uriBaseId").is_none());
    }
}
