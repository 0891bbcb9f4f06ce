//! Inline suppressions: `# airlock:ignore CODE reason` in any format with comments (`#`, `//`
//! and `;` comments), and data forms such as CloudFormation's
//! `Metadata: {airlock: {ignore: [{rule: CODE, reason: …}]}}`.
//!
//! A suppression covers a finding when it is written on one of the finding's lines, anywhere
//! inside the finding's resource, or on the line just above either (blank and comment lines
//! in between are skipped). The reason is mandatory: a suppression without one is not
//! honoured and is reported (SUP001); one that covers nothing is reported too (SUP002).

use std::sync::Arc;

use crate::finding::Finding;
use crate::model::{Site, Span};
use crate::rules::suppression::{SUPPRESSION_WITHOUT_REASON, UNUSED_SUPPRESSION};
use crate::source::SourceFile;

pub const MARKER: &str = "airlock:ignore";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub file: Arc<str>,
    /// Rule codes or names this suppression names.
    pub rules: Vec<String>,
    pub reason: Option<String>,
    /// Where it is written.
    pub line: u32,
    /// The lines it covers besides its own (a resource's lines for a data-form suppression;
    /// the next code line for a comment).
    pub covers: Span,
}

/// Comment suppressions in a file's text.
pub fn from_comments(file: &SourceFile) -> Vec<Suppression> {
    let mut out = Vec::new();
    for (index, line) in file.text.lines().enumerate() {
        let Some(at) = line.find(MARKER) else {
            continue;
        };
        let before = line[..at].trim_end();
        if !(before.ends_with('#') || before.ends_with("//") || before.ends_with(';')) {
            continue;
        }
        let line_no = index as u32 + 1;
        let rest = line[at + MARKER.len()..].trim();
        let (codes, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let rules: Vec<String> = codes
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let reason = reason.trim().trim_start_matches([':', '-']).trim();
        let next = next_code_line(file, line_no);
        out.push(Suppression {
            file: file.path.clone(),
            rules,
            reason: (!reason.is_empty()).then(|| reason.to_string()),
            line: line_no,
            covers: Span::line(next),
        });
    }
    out
}

fn next_code_line(file: &SourceFile, after: u32) -> u32 {
    let mut line = after + 1;
    while line <= file.line_count() {
        let text = file.line_text(line).trim();
        let is_comment = text.starts_with('#') || text.starts_with("//") || text.starts_with(';');
        if !text.is_empty() && !is_comment {
            return line;
        }
        line += 1;
    }
    after
}

fn covers(s: &Suppression, f: &Finding) -> bool {
    if s.file.as_ref() != f.file {
        return false;
    }
    let names = s
        .rules
        .iter()
        .any(|r| r.eq_ignore_ascii_case(f.rule) || r == f.name || r == "all");
    if !names {
        return false;
    }
    let within = |line: u32, span: Span| span.line <= line && line <= span.end_line;
    let finding = Span::new(f.line, f.end_line);
    within(s.line, finding)
        || within(s.line, f.resource_span)
        || within(s.covers.line, finding)
        || s.covers.line == f.resource_span.line
        || within(f.line, s.covers)
}

/// Marks covered findings as suppressed and adds findings for suppressions without a reason
/// and for suppressions that covered nothing.
pub fn apply(findings: &mut Vec<Finding>, suppressions: &[Suppression]) {
    apply_with_undecided(findings, &mut Vec::new(), suppressions);
}

/// [`apply`] for a `--strict-unknowns` scan: a suppression covers decided findings and
/// undecided places alike, and is unused only when it covers neither. (Applied to each list
/// on its own, every suppression of a decided finding was "unused" among the undecided, and
/// one that accepts only an undecided place was "unused" among the findings.) Problems with
/// the suppressions themselves are decided findings.
pub fn apply_with_undecided(
    findings: &mut Vec<Finding>,
    undecided: &mut [Finding],
    suppressions: &[Suppression],
) {
    let mut extra = Vec::new();
    for s in suppressions {
        let site = Site::new(&s.file, format!("line {}", s.line), Span::line(s.line));
        let Some(reason) = &s.reason else {
            extra.push(Finding::new(
                &SUPPRESSION_WITHOUT_REASON,
                &site,
                &s.rules.join(","),
                format!(
                    "suppression of {} has no reason; write `airlock:ignore {} <why this is acceptable>`",
                    s.rules.join(", "),
                    s.rules.join(",")
                ),
            ));
            continue;
        };
        let mut used = false;
        for f in findings
            .iter_mut()
            .chain(undecided.iter_mut())
            .filter(|f| covers(s, f))
        {
            f.suppressed.get_or_insert_with(|| reason.clone());
            used = true;
        }
        if !used {
            extra.push(Finding::new(
                &UNUSED_SUPPRESSION,
                &site,
                &s.rules.join(","),
                format!(
                    "suppression of {} matches no finding; remove it",
                    s.rules.join(", ")
                ),
            ));
        }
    }
    findings.extend(extra);
}
