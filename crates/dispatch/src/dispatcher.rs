//! The AWS dispatcher: the admission core ([`airlock_admission::Admission`], whose doc holds
//! the check order) over this crate's configuration ([`DispatchConfig`]) and ports (DynamoDB,
//! ECS, ECR, SQS: [`crate::aws`]), and what only ECS needs: the RunTask call ([`TaskSpec`]) and
//! the audit line on stdout.

use std::io::Write as _;

use airlock_admission::audit::AuditRecord;
use airlock_admission::ports::Launch;

pub use airlock_admission::admission::{
    Decision, ESSENTIAL_CONTAINER_EXITED, MAX_ENVELOPE_BYTES, MAX_OVERRIDES_BYTES,
    NONCE_RETENTION_SECS, STARTED_BY, StopNotice, StoppedTask, client_token, environment_of,
    overrides_size, runner_reported_the_end,
};

use crate::config::{DispatchConfig, Job};

/// The dispatcher Lambda's decisions.
pub type Dispatcher<P> = airlock_admission::Admission<DispatchConfig, P>;

/// One RunTask call, fully decided: the admission core's [`Launch`] placed on the job's
/// cluster, task definition and network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    pub cluster: String,
    pub task_definition: String,
    pub container: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// The container's environment overrides, in order.
    pub environment: Vec<(String, String)>,
    /// ECS's idempotency token: a redelivery cannot start a second task.
    pub client_token: String,
    pub started_by: String,
    pub tags: Vec<(String, String)>,
}

impl TaskSpec {
    pub fn new(job: &Job, launch: &Launch) -> TaskSpec {
        TaskSpec {
            cluster: job.cluster.clone(),
            task_definition: job.task_definition.clone(),
            container: job.container.clone(),
            subnets: job.subnets.clone(),
            security_groups: job.security_groups.clone(),
            assign_public_ip: job.assign_public_ip,
            environment: launch.environment.clone(),
            client_token: launch.client_token.clone(),
            started_by: launch.started_by.clone(),
            tags: launch.tags.clone(),
        }
    }
}

/// Writes the record as one JSON line to stdout: CloudWatch Logs keeps it, and a
/// subscription ships it to the compliance account.
pub fn emit_audit(record: &AuditRecord) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", record.to_json());
    let _ = out.flush();
}
