//! One audit record per decision: who asked for what and what was decided. It never holds
//! parameter values (they may be secrets) or the envelope. Where it goes is the dispatcher's
//! ([`crate::Ports::audit`]): the Lambda writes it as one JSON line to stdout, which
//! CloudWatch Logs keeps and a subscription ships to the compliance account.

use airlock_protocol::{CancelRequest, DeployRequest, Requester};
use serde::Serialize;

use crate::admission::Decision;

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
            time: crate::checks::rfc3339(crate::checks::now()),
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

impl AuditRecord {
    /// The record as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
