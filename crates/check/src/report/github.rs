//! GitHub Actions workflow commands: each unsuppressed finding becomes an annotation on the
//! pull request's diff (`::error` for critical and high, `::warning` for medium, `::notice`
//! for low), each scan error an `::error` annotation.
//!
//! Escaping follows the runner's rules: in the message `%`, `\r` and `\n` are
//! percent-encoded; in properties `:` and `,` are too, since they separate properties.

use std::fmt::Write as _;

use super::{ReportOptions, Summary};
use crate::ScanResult;
use crate::finding::{Finding, Severity};

pub fn render(result: &ScanResult, options: &ReportOptions) -> String {
    let mut out = String::new();
    for finding in result.findings.iter().filter(|f| f.suppressed.is_none()) {
        let command = match finding.severity {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low => "notice",
        };
        annotate(&mut out, command, finding, "");
    }
    for undecided in &result.undecided {
        annotate(&mut out, "notice", undecided, " (undecided)");
    }
    for error in &result.errors {
        let location = if error.line > 0 {
            format!("file={},line={}", property(&error.file), error.line)
        } else {
            format!("file={}", property(&error.file))
        };
        let _ = writeln!(
            out,
            "::error {location},title={}::{}",
            property("airlock parse error"),
            data(&error.message)
        );
    }
    let _ = writeln!(out, "{}", Summary::of(result, options).line());
    out
}

/// One annotation at a finding's lines, titled with its rule.
fn annotate(out: &mut String, command: &str, finding: &Finding, title_suffix: &str) {
    let line = finding.line.max(1);
    let _ = writeln!(
        out,
        "::{command} file={},line={line},endLine={},title={}::{}",
        property(&finding.file),
        finding.end_line.max(line),
        property(&format!("{} {}{title_suffix}", finding.rule, finding.name)),
        data(&finding.message)
    );
}

/// A command's message.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A command's property value.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn output() -> String {
        render(&testdata::result(), &ReportOptions::default())
    }

    #[test]
    fn one_annotation_per_unsuppressed_finding_by_severity() {
        let text = output();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "::error file=infra/main.tf,line=12,endLine=13,title=SUP001 test-rule::SUP001 message"
        );
        assert!(
            lines[1].starts_with("::error file=infra/main.tf,line=20,"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("::warning file=k8s/a b%2Cc%3Ad.yaml,line=3,endLine=4,"),
            "{text}"
        );
        assert!(
            !text.contains("line=30"),
            "suppressed findings are not annotated:\n{text}"
        );
    }

    #[test]
    fn messages_and_properties_are_escaped() {
        let text = output();
        assert!(
            text.contains("::50%25 <of> \"x\" & 'y'%0Aline two%0D\n"),
            "{text}"
        );
        assert_eq!(property("a:b,c%d"), "a%3Ab%2Cc%25d");
    }

    #[test]
    fn errors_are_annotations_too() {
        let text = output();
        assert!(text.contains(
            "::error file=broken.yaml,line=4,title=airlock parse error::mapping values are not allowed here\n"
        ), "{text}");
        assert!(
            text.contains("::error file=unreadable.tf,title=airlock parse error::not UTF-8\n"),
            "{text}"
        );
        assert!(text.ends_with("2 errors, 5 files scanned\n"), "{text}");
    }

    #[test]
    fn notices_for_low_findings() {
        let mut result = testdata::result();
        result.findings[0].severity = Severity::Low;
        let text = render(&result, &ReportOptions::default());
        assert!(
            text.starts_with("::notice file=infra/main.tf,line=12,"),
            "{text}"
        );
    }
}
