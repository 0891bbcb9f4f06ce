//! The ECR gate: the image digest must exist in the registry, its scan must be complete, and
//! it must have no findings at or above the job's severity.

use airlock_protocol::ImageRef;

use crate::checks::{Refusal, codes, refuse};
use crate::ports::ImageScan;

/// ECR scan severities, lowest first (ECR's `findingSeverityCounts` keys, upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_lowercase().as_str() {
            "informational" => Some(Severity::Informational),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Informational => "INFORMATIONAL",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// A job's ECR gate (`[dispatch.jobs.<name>.ecr_gate]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcrGate {
    /// Findings at or above this severity refuse the image.
    pub severity: Severity,
}

pub fn judge(gate: EcrGate, image: &ImageRef, scan: &ImageScan) -> Result<(), Refusal> {
    if !scan.exists {
        return Err(refuse(
            codes::IMAGE_GATE,
            format!("image {image} is not in the registry"),
        ));
    }
    match scan.status.as_deref() {
        Some("COMPLETE") | Some("ACTIVE") => {}
        other => {
            return Err(refuse(
                codes::IMAGE_GATE,
                format!(
                    "image {image} has no completed scan (status {}); the gate admits scanned images only",
                    other.unwrap_or("none")
                ),
            ));
        }
    }
    let blocking: Vec<String> = scan
        .counts
        .iter()
        .filter(|(severity, count)| {
            **count > 0 && Severity::parse(severity).is_some_and(|s| s >= gate.severity)
        })
        .map(|(severity, count)| format!("{count} {severity}"))
        .collect();
    if blocking.is_empty() {
        Ok(())
    } else {
        Err(refuse(
            codes::IMAGE_GATE,
            format!(
                "image {image} has findings at or above {}: {}",
                gate.severity.name(),
                blocking.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageRef {
        ImageRef::parse(&format!("repo@sha256:{}", "a".repeat(64))).expect("valid")
    }

    fn scan(status: Option<&str>, counts: &[(&str, i64)]) -> ImageScan {
        ImageScan {
            exists: true,
            status: status.map(str::to_string),
            counts: counts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn findings_at_or_above_the_threshold_refuse() {
        let gate = EcrGate {
            severity: Severity::High,
        };
        assert!(judge(gate, &image(), &scan(Some("COMPLETE"), &[("MEDIUM", 4)])).is_ok());
        let refused = judge(
            gate,
            &image(),
            &scan(Some("COMPLETE"), &[("HIGH", 1), ("LOW", 9)]),
        )
        .expect_err("a HIGH finding");
        assert_eq!(refused.code, codes::IMAGE_GATE);
        assert!(refused.reason.contains("1 HIGH"), "{}", refused.reason);
        assert!(!refused.reason.contains("LOW"), "{}", refused.reason);
        assert!(judge(gate, &image(), &scan(Some("COMPLETE"), &[("CRITICAL", 1)])).is_err());
    }

    #[test]
    fn missing_or_unscanned_images_refuse() {
        let gate = EcrGate {
            severity: Severity::Critical,
        };
        assert!(judge(gate, &image(), &ImageScan::default()).is_err());
        assert!(judge(gate, &image(), &scan(None, &[])).is_err());
        assert!(judge(gate, &image(), &scan(Some("IN_PROGRESS"), &[])).is_err());
        assert!(judge(gate, &image(), &scan(Some("COMPLETE"), &[])).is_ok());
    }
}
