//! The report for people: findings grouped by file, each with the code it points at, the
//! rule's one-line fix and its documentation; then scan errors as `path:line: message`; then
//! a summary line. Suppressed findings are only counted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{ReportOptions, Summary, excerpt_may_hold_secret, meta_of};
use crate::ScanResult;
use crate::finding::{Finding, Severity};

/// Excerpts longer than this are cut: the location is enough to find the rest.
const MAX_EXCERPT_LINES: u32 = 5;

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn severity(&self, severity: Severity) -> String {
        let label = severity.as_str().to_ascii_uppercase();
        let code = match severity {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
        };
        self.wrap(code, &format!("{label:<8}"))
    }

    fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }

    fn dim(&self, text: &str) -> String {
        self.wrap("2", text)
    }
}

pub fn render(result: &ScanResult, options: &ReportOptions) -> String {
    let paint = Paint { on: options.color };
    let mut by_file: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for finding in result.findings.iter().filter(|f| f.suppressed.is_none()) {
        by_file.entry(&finding.file).or_default().push(finding);
    }

    // A finding about one thing (a port, a role) may point at a resource that also holds a
    // secret; its excerpt must not print that secret into a CI log.
    let secret_lines: BTreeSet<(&str, u32)> = result
        .findings
        .iter()
        .filter(|f| excerpt_may_hold_secret(f.rule))
        .map(|f| (f.file.as_str(), f.line))
        .collect();

    let mut out = String::new();
    for (file, findings) in &by_file {
        let _ = writeln!(out, "{}", paint.bold(&printable(file)));
        for finding in findings {
            write_finding(&mut out, finding, options, &paint, &secret_lines);
        }
        out.push('\n');
    }

    if !result.undecided.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            paint.bold("undecided (--strict-unknowns): unknown values a rule would report at their least safe")
        );
        for undecided in &result.undecided {
            let _ = writeln!(
                out,
                "  {}:{}  {} {}  {}",
                printable(&undecided.file),
                undecided.line,
                paint.bold(undecided.rule),
                undecided.name,
                printable(&undecided.message)
            );
        }
        out.push('\n');
    }

    if !result.errors.is_empty() {
        let _ = writeln!(out, "{}", paint.bold("errors"));
        for error in &result.errors {
            let _ = writeln!(
                out,
                "  {}",
                paint.wrap("31", &printable(&error.to_string()))
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "{}", Summary::of(result, options).line());
    out
}

fn write_finding(
    out: &mut String,
    finding: &Finding,
    options: &ReportOptions,
    paint: &Paint,
    secret_lines: &BTreeSet<(&str, u32)>,
) {
    let _ = writeln!(
        out,
        "  {} {} {}  line {}  {}",
        paint.severity(finding.severity),
        paint.bold(finding.rule),
        finding.name,
        finding.line,
        printable(&finding.resource)
    );
    for line in finding.message.lines() {
        let _ = writeln!(out, "    {}", printable(line));
    }
    if !excerpt_may_hold_secret(finding.rule)
        && let Some(source) = options.sources.get(&finding.file)
    {
        let last = finding
            .end_line
            .max(finding.line)
            .min(finding.line.saturating_add(MAX_EXCERPT_LINES - 1))
            .min(source.line_count());
        let width = last.to_string().len();
        for number in finding.line.max(1)..=last {
            let text = source.line_text(number);
            let shown = if secret_lines.contains(&(finding.file.as_str(), number))
                || line_may_hold_secret(text)
            {
                paint.dim("(line hidden: it may hold a secret)")
            } else {
                printable(text.trim_end())
            };
            let _ = writeln!(
                out,
                "    {} {}",
                paint.dim(&format!("{number:>width$} |")),
                shown
            );
        }
    }
    if let Some(meta) = meta_of(finding) {
        let _ = writeln!(out, "    fix: {}", meta.hint());
        let _ = writeln!(
            out,
            "    {}",
            paint.dim(&format!("docs: {}", meta.doc_url()))
        );
    }
}

/// Whether an excerpt line looks like it holds a secret even though no secret rule reported it
/// (the rule may be disabled or the value below its threshold): an access key id, a private key,
/// a high-entropy token, or `secret_name = literal` / `secret_name: literal`.
fn line_may_hold_secret(text: &str) -> bool {
    use crate::secrets;
    if !secrets::find_access_key_ids(text).is_empty()
        || secrets::contains_private_key(text)
        || !secrets::high_entropy_tokens(text).is_empty()
        || secrets::basic_auth_kind(text).is_some()
    {
        return true;
    }
    let Some(split) = text.find(['=', ':']) else {
        return false;
    };
    let name = text[..split].trim().trim_matches(['"', '\'', '-', ' ']);
    let value = text[split + 1..].trim().trim_end_matches([',', ';']);
    secrets::is_secret_name(name) && !secrets::is_placeholder(value)
}

/// Scanned files are untrusted: control characters (an escape sequence in a YAML string)
/// must not reach the terminal, where they could rewrite what the report says.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;
    use crate::source::SourceFile;

    fn plain(options: &ReportOptions) -> String {
        render(&testdata::result(), options)
    }

    #[test]
    fn groups_by_file_and_shows_each_finding() {
        let text = plain(&ReportOptions::default());
        let main = text.find("infra/main.tf\n").expect("file heading");
        let k8s = text
            .find("k8s/a b,c:d.yaml\n")
            .expect("second file heading");
        assert!(main < k8s, "files in order:\n{text}");
        assert!(
            text.contains(
                "  CRITICAL SUP001 test-rule  line 12  aws_security_group.web\n    SUP001 message\n"
            ),
            "{text}"
        );
        // The rule's hint and doc link come from the registry.
        assert!(
            text.contains("    fix: Add the reason after the rule code.\n"),
            "{text}"
        );
        assert!(text.contains("docs: https://"), "{text}");
    }

    #[test]
    fn suppressed_findings_are_only_counted() {
        let text = plain(&ReportOptions::default());
        assert!(!text.contains("SUP002 test-rule"), "{text}");
        assert!(text.contains(", 1 suppressed,"), "{text}");
    }

    #[test]
    fn errors_are_path_line_message() {
        let text = plain(&ReportOptions::default());
        assert!(
            text.contains("\n  broken.yaml:4: mapping values are not allowed here\n"),
            "{text}"
        );
        assert!(text.contains("\n  unreadable.tf: not UTF-8\n"), "{text}");
        assert!(text.ends_with(
            "3 findings (1 critical, 1 high, 1 medium), 1 suppressed, 0 baselined, 2 errors, 5 files scanned\n"
        ));
    }

    #[test]
    fn excerpts_show_the_findings_lines_up_to_five() {
        let mut options = ReportOptions::default();
        let text: String = (1..=40).map(|n| format!("line {n}  \n")).collect();
        options.sources.insert(
            "infra/main.tf".into(),
            SourceFile::new("infra/main.tf", text),
        );
        let mut result = testdata::result();
        result.findings[1].end_line = 30;
        let report = render(&result, &options);
        assert!(
            report.contains("    12 | line 12\n    13 | line 13\n    fix:"),
            "{report}"
        );
        assert!(report.contains("    24 | line 24\n    fix:"), "{report}");
        assert!(
            !report.contains("line 25"),
            "cut after five lines:\n{report}"
        );
    }

    #[test]
    fn secret_findings_get_no_excerpt() {
        let mut options = ReportOptions::default();
        options.sources.insert(
            "creds.tf".into(),
            SourceFile::new("creds.tf", "key = \"AKIAIOSFODNN7EXAMPLE\"\n"),
        );
        let result = ScanResult {
            findings: vec![testdata::finding(
                "SEC001",
                Severity::Critical,
                "creds.tf",
                1,
            )],
            ..ScanResult::default()
        };
        let report = render(&result, &options);
        assert!(!report.contains("AKIA"), "{report}");
    }

    #[test]
    fn excerpts_of_other_findings_hide_lines_that_hold_secrets() {
        let mut options = ReportOptions::default();
        let text = "resource \"aws_db_instance\" \"db\" {\n  port = 22\n  password = \"Winter2024!\"\n                      token = \"hunter22\"\n  name = \"orders\"\n}\n";
        options
            .sources
            .insert("db.tf".into(), SourceFile::new("db.tf", text));
        let mut port = testdata::finding("NET001", Severity::High, "db.tf", 1);
        port.end_line = 6;
        // The secret rule reported line 3; line 4 is caught by its name alone.
        let mut secret = testdata::finding("SEC003", Severity::Critical, "db.tf", 3);
        secret.suppressed = Some("rotated".into());
        let result = ScanResult {
            findings: vec![port, secret],
            ..ScanResult::default()
        };
        let report = render(&result, &options);
        assert!(!report.contains("Winter2024"), "{report}");
        assert!(!report.contains("hunter22"), "{report}");
        assert!(
            report.contains("    3 | (line hidden: it may hold a secret)\n"),
            "{report}"
        );
        assert!(report.contains("    2 |   port = 22\n"), "{report}");
        assert!(report.contains("    5 |   name = \"orders\"\n"), "{report}");
    }

    #[test]
    fn control_characters_from_files_never_reach_the_terminal() {
        let mut options = ReportOptions::default();
        options.sources.insert(
            "infra/main.tf".into(),
            SourceFile::new(
                "infra/main.tf",
                format!("{}x = \"\x1b[2Jgone\"\n", "\n".repeat(11)),
            ),
        );
        let mut result = testdata::result();
        result.findings[0].message = "name \x1b]0;pwned\x07 here".into();
        let report = render(&result, &options);
        assert!(!report.contains('\x1b'), "{report:?}");
        assert!(!report.contains('\x07'), "{report:?}");
        assert!(report.contains("12 | x = \"\u{FFFD}[2Jgone\""), "{report}");
    }

    #[test]
    fn colour_only_when_asked() {
        assert!(!plain(&ReportOptions::default()).contains('\x1b'));
        let coloured = plain(&ReportOptions {
            color: true,
            ..ReportOptions::default()
        });
        assert!(coloured.contains("\x1b[1;31mCRITICAL"), "{coloured}");
    }
}
