//! Findings, severities and scan errors: what a scan produces.

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::model::Site;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in the scanned code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's stable code, e.g. `NET001`.
    pub rule: &'static str,
    /// The rule's kebab-case name.
    pub name: &'static str,
    /// After configuration overrides.
    pub severity: Severity,
    pub file: String,
    pub line: u32,
    pub end_line: u32,
    pub resource: String,
    /// The whole resource's lines (for suppressions; not part of the reports).
    pub resource_span: crate::node::Span,
    /// Never contains a secret's value: rules mask them with [`crate::secrets::mask`].
    pub message: String,
    /// Stable across line moves and checkouts: rule, file (relative to the git work tree or
    /// the scanned folder), resource and the rule's own discriminator.
    pub fingerprint: String,
    /// The suppression's reason, if an inline suppression or the baseline covers it.
    pub suppressed: Option<String>,
}

impl Finding {
    /// A finding at `site`. `discriminator` tells apart two findings of the same rule on the
    /// same resource (a port, a container name, a variable name); it goes into the
    /// fingerprint and must not contain a secret.
    pub fn new(
        rule: &crate::rules::RuleMeta,
        site: &Site,
        discriminator: &str,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: rule.code,
            name: rule.name,
            severity: rule.severity,
            file: site.file.to_string(),
            line: site.span.line,
            end_line: site.span.end_line,
            resource: site.resource.clone(),
            resource_span: site.resource_span,
            message: message.into(),
            // The scan adds the file's stable path (see `scan`), which only it knows.
            fingerprint: fingerprint(&[rule.code, &site.resource, discriminator]),
            suppressed: None,
        }
    }
}

/// A short, stable hash of the parts (hex of the first 8 bytes of SHA-256).
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file of a recognised kind that could not be read or parsed. Reported in every output
/// format; it makes the scan exit 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanError {
    pub file: String,
    /// 0 when the problem is the whole file (unreadable, not UTF-8).
    pub line: u32,
    pub message: String,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.file, self.message)
        }
    }
}
