//! JUnit XML, for CI systems that show test results (GitLab, Jenkins, Azure DevOps).
//!
//! One `<testsuite>` per file: a finding is fixed in a file, and CI test viewers group and
//! link failures by suite, so a file's problems read together. (A suite per rule would need
//! a passing test for every rule that found nothing, which says little about the code.)
//! Each finding is a `<testcase>` with a `<failure>`; a suppressed finding is `<skipped>`
//! with its reason; a scan error is a `<testcase>` with an `<error>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{ReportOptions, Summary, meta_of};
use crate::ScanResult;
use crate::finding::{Finding, ScanError};

#[derive(Default)]
struct Suite<'a> {
    findings: Vec<&'a Finding>,
    errors: Vec<&'a ScanError>,
}

pub fn render(result: &ScanResult, options: &ReportOptions) -> String {
    let mut suites: BTreeMap<&str, Suite> = BTreeMap::new();
    // With `--strict-unknowns` an undecided place fails the build as a finding does, so it
    // is a failing test case here too (its message says it is undecided).
    for finding in result.findings.iter().chain(&result.undecided) {
        suites
            .entry(&finding.file)
            .or_default()
            .findings
            .push(finding);
    }
    for error in &result.errors {
        suites.entry(&error.file).or_default().errors.push(error);
    }
    let summary = Summary::of(result, options);

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"airlock check\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        result.findings.len() + result.undecided.len() + result.errors.len(),
        summary.total + result.undecided.len(),
        summary.errors,
        summary.suppressed
    );
    for (file, suite) in &suites {
        let failures = suite
            .findings
            .iter()
            .filter(|f| f.suppressed.is_none())
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{}\" skipped=\"{}\">",
            escape(file),
            suite.findings.len() + suite.errors.len(),
            suite.errors.len(),
            suite.findings.len() - failures
        );
        for finding in &suite.findings {
            write_finding(&mut out, finding);
        }
        for error in &suite.errors {
            let _ = writeln!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\">\n      <error type=\"parse-error\" message=\"{}\">{}</error>\n    </testcase>",
                escape(&format!("parse error at line {}", error.line)),
                escape(&error.file),
                escape(&error.file),
                escape(&error.message),
                escape_content(&error.to_string())
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn write_finding(out: &mut String, finding: &Finding) {
    let _ = writeln!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\">",
        escape(&format!(
            "{} {} {} line {}",
            finding.rule, finding.name, finding.resource, finding.line
        )),
        escape(&finding.file),
        escape(&finding.file),
        finding.line
    );
    if let Some(reason) = &finding.suppressed {
        let _ = writeln!(
            out,
            "      <skipped message=\"{}\"/>",
            escape(&format!("suppressed: {reason}"))
        );
    } else {
        let mut body = format!("{}:{}: {}", finding.file, finding.line, finding.message);
        if let Some(meta) = meta_of(finding) {
            body.push_str(&format!("\nfix: {}\ndocs: {}", meta.hint(), meta.doc_url()));
        }
        let _ = writeln!(
            out,
            "      <failure type=\"{}\" message=\"{}\">{}</failure>",
            finding.severity,
            escape(&finding.message),
            escape_content(&body)
        );
    }
    out.push_str("    </testcase>\n");
}

/// Escapes element content: like [`escape`], but line breaks and tabs stay readable.
fn escape_content(text: &str) -> String {
    escape(text).replace("&#10;", "\n").replace("&#9;", "\t")
}

/// Escapes text for XML attributes. Characters XML 1.0 cannot carry at all
/// (control characters other than tab, newline and carriage return) become U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // In attributes, raw line breaks and tabs would be normalised to spaces.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn xml() -> String {
        render(&testdata::result(), &ReportOptions::default())
    }

    #[test]
    fn one_suite_per_file_with_counts() {
        let xml = xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
        assert!(
            xml.contains("<testsuites name=\"airlock check\" tests=\"6\" failures=\"3\" errors=\"2\" skipped=\"1\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"infra/main.tf\" tests=\"3\" failures=\"2\" errors=\"0\" skipped=\"1\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"broken.yaml\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">"),
            "{xml}"
        );
        assert_eq!(
            xml.matches("<testsuite ").count(),
            xml.matches("</testsuite>").count()
        );
        assert_eq!(xml.matches("<testcase ").count(), 6);
    }

    #[test]
    fn findings_fail_suppressed_skip_errors_error() {
        let xml = xml();
        assert!(xml.contains("<failure type=\"critical\" message=\"SUP001 message\">infra/main.tf:12: SUP001 message\nfix: Add the reason after the rule code."), "{xml}");
        assert!(
            xml.contains("<skipped message=\"suppressed: bastion, VPN only\"/>"),
            "{xml}"
        );
        assert!(xml.contains("<error type=\"parse-error\" message=\"mapping values are not allowed here\">broken.yaml:4: mapping values are not allowed here</error>"), "{xml}");
    }

    #[test]
    fn text_is_escaped() {
        let xml = xml();
        assert!(
            xml.contains(
                "message=\"50% &lt;of&gt; &quot;x&quot; &amp; &apos;y&apos;&#10;line two&#13;\""
            ),
            "{xml}"
        );
        assert!(!xml.contains("<of>"));
        assert_eq!(escape("a\u{1}b\tc"), "a\u{FFFD}b&#9;c");
        assert_eq!(escape_content("<a>\nb&#10;"), "&lt;a&gt;\nb&amp;#10;");
    }
}
