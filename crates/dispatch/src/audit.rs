//! One JSON line per decision on stdout: CloudWatch Logs keeps it, and a subscription ships it
//! to the compliance account. It names who asked for what and what was decided; it never holds
//! parameter values (they may be secrets) or the envelope.

use std::io::Write as _;

use airlock_protocol::{CancelRequest, DeployRequest, Requester};
use serde::Serialize;

use crate::dispatcher::Decision;

#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    pub audit: &'static str,
    pub time: String,
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<Requester>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The parameters' names only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

impl AuditRecord {
    fn new(event: &'static str) -> AuditRecord {
        AuditRecord {
            audit: "airlock-dispatch",
            time: airlock_lane::checks::rfc3339(airlock_lane::checks::now()),
            event,
            request_id: None,
            requester: None,
            job: None,
            params: Vec::new(),
            image: None,
            decision: None,
        }
    }

    pub fn deploy(request: &DeployRequest) -> AuditRecord {
        AuditRecord {
            request_id: Some(request.request_id.clone()),
            requester: Some(request.requester.clone()),
            job: Some(request.job.clone()),
            params: request.params.keys().cloned().collect(),
            image: request.image.as_ref().map(ToString::to_string),
            ..AuditRecord::new("deploy")
        }
    }

    pub fn cancel(request: &CancelRequest) -> AuditRecord {
        AuditRecord {
            request_id: Some(request.request_id.clone()),
            requester: Some(request.requester.clone()),
            job: Some(request.job.clone()),
            ..AuditRecord::new("cancel")
        }
    }

    /// An envelope that could not be verified.
    pub fn envelope() -> AuditRecord {
        AuditRecord::new("envelope")
    }

    pub fn task() -> AuditRecord {
        AuditRecord::new("task_stopped")
    }

    pub fn decided(&self, decision: &Decision) -> AuditRecord {
        let mut record = self.clone();
        record.decision = Some(decision.clone());
        record
    }
}

/// Writes the record as one line to stdout.
pub fn emit(record: &AuditRecord) {
    let line = serde_json::to_string(record).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
