//! The dispatcher's configuration: one TOML document, read once at cold start from a file
//! (`AIRLOCK_DISPATCH_CONFIG`) or an SSM parameter (`AIRLOCK_DISPATCH_CONFIG_SSM`).
//!
//! ```toml
//! [dispatch]
//! table = "airlock-lane-prod"          # DynamoDB: nonces, lane locks, task owners (key `pk`, TTL `ttl`)
//! lock_grace_secs = 300                # the lane lock's lease is the job's timeout plus this
//!
//! [dispatch.keys]                      # trusted signing keys: KMS key ARN = public key (PEM or base64 DER)
//! "arn:aws:kms:eu-west-1:111111111111:key/0f0f0f0f-0000-4000-8000-000000000000" = """
//! -----BEGIN PUBLIC KEY-----
//! …
//! -----END PUBLIC KEY-----
//! """
//!
//! [dispatch.jobs.web]                  # one allowlisted job
//! cluster = "arn:aws:ecs:eu-west-1:222222222222:cluster/airlock-prod"
//! task_definition = "airlock-deploy:7" # pinned: family:revision or a task-definition ARN
//! container = "deploy"                 # the container whose environment carries the request
//! subnets = ["subnet-0123456789abcdef0"]
//! security_groups = ["sg-0123456789abcdef0"]
//! assign_public_ip = false             # the default
//! feedback_queue_url = "https://sqs.eu-west-1.amazonaws.com/222222222222/airlock-feedback-prod"
//! repositories = ["222222222222.dkr.ecr.eu-west-1.amazonaws.com/deploy/app"]
//! image_required = true                # refuse requests without an image (default false)
//! timeout_secs = 1800
//! [dispatch.jobs.web.params.VERSION]   # the same schema as the local lane's jobs
//! pattern = "v[0-9]+\\.[0-9]+\\.[0-9]+"
//! [dispatch.jobs.web.ecr_gate]         # optional: the digest must exist and be scanned clean
//! severity = "high"                    # refuse findings at or above: critical, high, medium, low
//! ```
//!
//! Every error names the file and, where TOML can tell, the line and the key.

use std::collections::BTreeMap;

use airlock_admission::params::{ParamSchema, parse_param_schemas, valid_job_name};
use airlock_admission::{AllowedJob, Allowlist};
use serde::Deserialize;

pub use airlock_admission::gate::{EcrGate, Severity};

/// The default of `lock_grace_secs`.
pub const DEFAULT_LOCK_GRACE_SECS: u64 = 300;
/// A job's timeout when the configuration gives none.
pub const DEFAULT_TIMEOUT_SECS: u64 = 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    pub table: String,
    /// The trusted keys (`dispatch.keys`) and jobs (`dispatch.jobs`).
    pub allowlist: Allowlist<Job>,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub cluster: String,
    pub task_definition: String,
    pub container: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub feedback_queue_url: String,
    pub repositories: Vec<String>,
    pub image_required: bool,
    pub timeout_secs: u64,
    pub params: BTreeMap<String, ParamSchema>,
    pub ecr_gate: Option<EcrGate>,
}

impl AllowedJob for Job {
    fn name(&self) -> &str {
        &self.name
    }
    fn params(&self) -> &BTreeMap<String, ParamSchema> {
        &self.params
    }
    fn timeout_secs(&self) -> u64 {
        self.timeout_secs
    }
    fn repositories(&self) -> &[String] {
        &self.repositories
    }
    fn image_required(&self) -> bool {
        self.image_required
    }
    fn ecr_gate(&self) -> Option<EcrGate> {
        self.ecr_gate
    }
    fn feedback_queue(&self) -> &str {
        &self.feedback_queue_url
    }
    fn cluster(&self) -> &str {
        &self.cluster
    }
    fn container(&self) -> &str {
        &self.container
    }
}

impl AsRef<Allowlist<Job>> for DispatchConfig {
    fn as_ref(&self) -> &Allowlist<Job> {
        &self.allowlist
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    dispatch: RawDispatch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDispatch {
    table: String,
    lock_grace_secs: Option<u64>,
    #[serde(default)]
    keys: BTreeMap<String, String>,
    #[serde(default)]
    jobs: BTreeMap<String, RawJob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    cluster: String,
    task_definition: String,
    container: String,
    subnets: Vec<String>,
    #[serde(default)]
    security_groups: Vec<String>,
    #[serde(default)]
    assign_public_ip: bool,
    feedback_queue_url: String,
    #[serde(default)]
    repositories: Vec<String>,
    #[serde(default)]
    image_required: bool,
    timeout_secs: Option<u64>,
    params: Option<toml::Value>,
    ecr_gate: Option<RawGate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    severity: String,
}

impl DispatchConfig {
    /// Parses the configuration text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<DispatchConfig, ConfigError> {
        let err = |message: String| ConfigError {
            file: file.to_string(),
            message,
        };
        // toml's message names the line, the column and the key.
        let raw: RawFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let raw = raw.dispatch;
        if raw.table.trim().is_empty() {
            return Err(err("dispatch.table: must name the DynamoDB table".into()));
        }
        let mut keys = BTreeMap::new();
        for (key_id, pem) in &raw.keys {
            let key = airlock_protocol::signing::public_key_from_text(pem)
                .map_err(|e| err(format!("dispatch.keys.\"{key_id}\": {e}")))?;
            keys.insert(key_id.clone(), key);
        }
        if keys.is_empty() {
            return Err(err(
                "dispatch.keys: no trusted signing key; every request would be refused".into(),
            ));
        }
        let mut jobs = BTreeMap::new();
        for (name, job) in raw.jobs {
            let field = format!("dispatch.jobs.{name}");
            let job = parse_job(&name, job, &field, file).map_err(err)?;
            jobs.insert(name, job);
        }
        Ok(DispatchConfig {
            table: raw.table,
            allowlist: Allowlist {
                keys,
                keys_configured_in: "dispatch.keys".into(),
                jobs,
                jobs_configured_in: "dispatch.jobs".into(),
                lock_grace_secs: raw.lock_grace_secs.unwrap_or(DEFAULT_LOCK_GRACE_SECS),
                shared_queue: None,
            },
        })
    }

    pub fn job(&self, name: &str) -> Option<&Job> {
        self.allowlist.job(name)
    }
}

fn parse_job(name: &str, raw: RawJob, field: &str, file: &str) -> Result<Job, String> {
    if !valid_job_name(name) {
        return Err(format!(
            "{field}: job names are 1 to 64 of A-Z a-z 0-9 _ . - and start with a letter or digit"
        ));
    }
    if !pinned_task_definition(&raw.task_definition) {
        return Err(format!(
            "{field}.task_definition: {:?} is not pinned; give family:revision or a task-definition ARN with its revision",
            raw.task_definition
        ));
    }
    for (key, value) in [
        ("cluster", &raw.cluster),
        ("container", &raw.container),
        ("feedback_queue_url", &raw.feedback_queue_url),
    ] {
        if value.trim().is_empty() {
            return Err(format!("{field}.{key}: must not be empty"));
        }
    }
    if raw.subnets.is_empty() {
        return Err(format!(
            "{field}.subnets: Fargate tasks need at least one subnet"
        ));
    }
    if raw.image_required && raw.repositories.is_empty() {
        return Err(format!(
            "{field}.repositories: image_required needs at least one allowed repository"
        ));
    }
    if let Some(bad) = raw.repositories.iter().find(|r| r.contains(['@', ' '])) {
        return Err(format!(
            "{field}.repositories: {bad:?} must be a repository name without tag or digest"
        ));
    }
    let params = match &raw.params {
        Some(value) => parse_param_schemas(file, &format!("{field}.params"), value)
            .map_err(|e| format!("{}: {}", e.field, e.message))?,
        None => BTreeMap::new(),
    };
    let ecr_gate = match raw.ecr_gate {
        None => None,
        Some(gate) => Some(EcrGate {
            severity: Severity::parse(&gate.severity).ok_or_else(|| {
                format!(
                    "{field}.ecr_gate.severity: {:?} is not one of critical, high, medium, low, informational",
                    gate.severity
                )
            })?,
        }),
    };
    if ecr_gate.is_some() && raw.repositories.is_empty() {
        return Err(format!(
            "{field}.ecr_gate: needs the allowed repositories (an ECR gate without images gates nothing)"
        ));
    }
    let timeout_secs = match raw.timeout_secs {
        Some(0) => return Err(format!("{field}.timeout_secs: must be positive")),
        Some(n) => n,
        None => DEFAULT_TIMEOUT_SECS,
    };
    Ok(Job {
        name: name.to_string(),
        cluster: raw.cluster,
        task_definition: raw.task_definition,
        container: raw.container,
        subnets: raw.subnets,
        security_groups: raw.security_groups,
        assign_public_ip: raw.assign_public_ip,
        feedback_queue_url: raw.feedback_queue_url,
        repositories: raw.repositories,
        image_required: raw.image_required,
        timeout_secs,
        params,
        ecr_gate,
    })
}

/// `family:revision`, or `arn:…:task-definition/family:revision`: a bare family would run
/// whatever revision was registered last.
fn pinned_task_definition(text: &str) -> bool {
    let tail = match text.strip_prefix("arn:") {
        Some(_) => match text.split_once(":task-definition/") {
            Some((_, tail)) => tail,
            None => return false,
        },
        None => text,
    };
    match tail.rsplit_once(':') {
        Some((family, revision)) => {
            !family.is_empty()
                && family
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
                && !revision.is_empty()
                && revision.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};

    pub(crate) fn test_pem() -> String {
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("valid scalar");
        key.verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem")
    }

    fn config(job: &str) -> String {
        format!(
            "[dispatch]\ntable = \"t\"\n[dispatch.keys]\n\"k1\" = \"\"\"\n{}\"\"\"\n[dispatch.jobs.web]\n{job}",
            test_pem()
        )
    }

    const JOB: &str = "cluster = \"c\"\ntask_definition = \"deploy:3\"\ncontainer = \"deploy\"\nsubnets = [\"subnet-1\"]\nfeedback_queue_url = \"https://q\"\n";

    #[test]
    fn a_good_config_parses_with_defaults() {
        let c = DispatchConfig::parse(&config(JOB), "d.toml").expect("parses");
        let job = c.job("web").expect("job");
        assert!(!job.assign_public_ip);
        assert_eq!(job.timeout_secs, DEFAULT_TIMEOUT_SECS);
        assert_eq!(c.allowlist.lock_grace_secs, DEFAULT_LOCK_GRACE_SECS);
        assert!(c.allowlist.keys.contains_key("k1"));
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let unpinned = config(&JOB.replace("deploy:3", "deploy"));
        let e = DispatchConfig::parse(&unpinned, "d.toml").expect_err("unpinned");
        assert!(
            e.to_string()
                .starts_with("d.toml: dispatch.jobs.web.task_definition"),
            "{e}"
        );

        let unknown = config(&format!("{JOB}colour = \"red\"\n"));
        let e = DispatchConfig::parse(&unknown, "d.toml").expect_err("unknown key");
        assert!(e.to_string().contains("colour"), "{e}");
        assert!(e.to_string().contains("line"), "{e}");

        let reserved = config(&format!(
            "{JOB}[dispatch.jobs.web.params.AIRLOCK_FEEDBACK]\n"
        ));
        let e = DispatchConfig::parse(&reserved, "d.toml").expect_err("reserved param");
        assert!(
            e.to_string()
                .contains("dispatch.jobs.web.params.AIRLOCK_FEEDBACK"),
            "{e}"
        );

        let bad_key = "[dispatch]\ntable = \"t\"\n[dispatch.keys]\nk1 = \"not a key\"\n";
        let e = DispatchConfig::parse(bad_key, "d.toml").expect_err("bad key");
        assert!(e.to_string().contains("dispatch.keys.\"k1\""), "{e}");

        let gate = config(&format!(
            "{JOB}repositories = [\"r\"]\n[dispatch.jobs.web.ecr_gate]\nseverity = \"bad\"\n"
        ));
        let e = DispatchConfig::parse(&gate, "d.toml").expect_err("bad severity");
        assert!(e.to_string().contains("ecr_gate.severity"), "{e}");
    }

    #[test]
    fn a_key_may_be_given_as_base64_der_as_kms_prints_it() {
        use p256::pkcs8::EncodePublicKey as _;
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).expect("valid scalar");
        let der = key.verifying_key().to_public_key_der().expect("der");
        let base64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
        let text = format!(
            "[dispatch]\ntable = \"t\"\n[dispatch.keys]\n\"k1\" = \"{base64}\"\n[dispatch.jobs.web]\n{JOB}"
        );
        let c = DispatchConfig::parse(&text, "d.toml").expect("parses");
        assert_eq!(c.allowlist.keys.get("k1"), Some(key.verifying_key()));
    }

    #[test]
    fn task_definitions_must_be_pinned() {
        assert!(pinned_task_definition("deploy:12"));
        assert!(pinned_task_definition(
            "arn:aws:ecs:eu-west-1:222222222222:task-definition/deploy:12"
        ));
        assert!(!pinned_task_definition("deploy"));
        assert!(!pinned_task_definition("deploy:latest"));
        assert!(!pinned_task_definition(
            "arn:aws:ecs:eu-west-1:222222222222:task-definition/deploy"
        ));
    }
}
