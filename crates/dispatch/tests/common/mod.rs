//! A production account in moto for the dispatcher's tests: a VPC, subnet and security group,
//! a cluster with a pinned Fargate task definition, the lane's feedback queue and DynamoDB
//! table, and a dispatcher configured for them that trusts one test key (a fixed seed: an
//! obviously fake key, never a real one).
#![allow(dead_code)] // Each test file uses a different subset.

pub mod runtime_api;

use std::collections::BTreeMap;
use std::sync::Arc;

use airlock_dispatch::aws::AwsPorts;
use airlock_dispatch::{DispatchConfig, Dispatcher};
use airlock_protocol::{
    CancelRequest, DeployRequest, Feedback, FeedbackBody, RequestKind, Requester, SignedRequest,
};
use airlock_testsupport::{MotoServer, fixtures};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use time::OffsetDateTime;

pub const KEY_ID: &str =
    "arn:aws:kms:eu-west-1:111111111111:key/00000000-test-0000-0000-000000000000";
pub const REPO: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/deploy/app";
pub const TABLE: &str = "airlock-lane-test";

pub fn trusted_key() -> SigningKey {
    SigningKey::from_slice(&[0x42; 32]).expect("valid scalar")
}

pub fn untrusted_key() -> SigningKey {
    SigningKey::from_slice(&[0x17; 32]).expect("valid scalar")
}

pub struct Stage {
    pub moto: MotoServer,
    pub runtime: tokio::runtime::Runtime,
    pub cluster_arn: String,
    pub task_definition: String,
    pub queue_url: String,
    pub config_text: String,
}

impl Stage {
    pub fn start() -> Stage {
        let moto = MotoServer::start().expect("moto starts");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut stage = Stage {
            moto,
            runtime,
            cluster_arn: String::new(),
            task_definition: String::new(),
            queue_url: String::new(),
            config_text: String::new(),
        };
        stage.create_fixtures();
        stage
    }

    /// Resets moto and creates the fixtures again: every case starts from an empty account.
    pub fn reset(&mut self) {
        self.moto.reset().expect("moto reset");
        self.create_fixtures();
    }

    fn create_fixtures(&mut self) {
        let config = self.moto.sdk_config();
        let (target, queue_url) = self.runtime.block_on(async {
            let target = fixtures::deploy_target(&config)
                .await
                .expect("deploy target");
            fixtures::ttl_table(&config, TABLE, "pk", "ttl")
                .await
                .expect("table");
            let queue = fixtures::queue(&config, "airlock-feedback")
                .await
                .expect("feedback queue");
            (target, queue)
        });
        let fixtures::DeployTarget {
            network,
            cluster_arn,
            task_definition,
        } = target;
        let pem = trusted_key()
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        self.config_text = format!(
            r#"[dispatch]
table = "{TABLE}"

[dispatch.keys]
"{KEY_ID}" = """
{pem}"""

[dispatch.jobs.web]
cluster = "{cluster_arn}"
task_definition = "{task_definition}"
container = "deploy"
subnets = ["{subnet}"]
security_groups = ["{sg}"]
feedback_queue_url = "{queue_url}"
repositories = ["{REPO}"]
timeout_secs = 600
[dispatch.jobs.web.params.VERSION]
pattern = "v[0-9]+\\.[0-9]+\\.[0-9]+"
[dispatch.jobs.web.params.ENV]
enum = ["staging", "prod"]
[dispatch.jobs.web.params.NOTES]
max_len = 20000
"#,
            subnet = network.subnet_id,
            sg = network.security_group_id,
        );
        self.cluster_arn = cluster_arn;
        self.task_definition = task_definition;
        self.queue_url = queue_url;
    }

    pub fn dispatcher(&self) -> Dispatcher<AwsPorts> {
        self.dispatcher_with(&self.moto.sdk_config())
    }

    /// The dispatcher with its AWS calls made through `sdk` (a [`FaultProxy`]'s endpoint, say).
    ///
    /// [`FaultProxy`]: airlock_testsupport::FaultProxy
    pub fn dispatcher_with(&self, sdk: &airlock_aws::SdkConfig) -> Dispatcher<AwsPorts> {
        let config = DispatchConfig::parse(&self.config_text, "dispatch.toml").expect("config");
        let ports = AwsPorts::new(sdk, &config.table);
        Dispatcher::new(Arc::new(config), ports)
    }

    /// Signs `request` with the trusted key and hands it to `dispatcher`, as SNS would.
    pub fn submit(
        &self,
        dispatcher: &Dispatcher<AwsPorts>,
        request: &DeployRequest,
    ) -> airlock_dispatch::Decision {
        self.runtime
            .block_on(dispatcher.handle_envelope(&sign(request, &trusted_key(), KEY_ID)))
            .unwrap_or_else(|e| panic!("the invocation failed: {e}"))
    }

    /// A second job, `worker`, like `web` but whose followers read `queue_url`.
    pub fn add_worker_job(&mut self, queue_url: &str) {
        let start = self
            .config_text
            .find("[dispatch.jobs.web]")
            .expect("job web");
        let end = self
            .config_text
            .find("[dispatch.jobs.web.params.")
            .expect("web's parameters");
        let worker = self.config_text[start..end]
            .replace("[dispatch.jobs.web]", "[dispatch.jobs.worker]")
            .replace(&self.queue_url, queue_url);
        self.config_text.push_str(&worker);
    }

    /// The tasks in the cluster, running or stopped.
    /// ECS's view of one task of the stage's cluster.
    pub fn describe_task(&self, task_arn: &str) -> airlock_aws::aws_sdk_ecs::types::Task {
        self.runtime
            .block_on(fixtures::describe_task(
                &self.moto.sdk_config(),
                &self.cluster_arn,
                task_arn,
            ))
            .expect("ecs:DescribeTasks")
    }

    pub fn tasks(&self) -> Vec<String> {
        let ecs = airlock_aws::ecs(&self.moto.sdk_config());
        self.runtime.block_on(async {
            let mut all = Vec::new();
            for status in [
                airlock_aws::aws_sdk_ecs::types::DesiredStatus::Running,
                airlock_aws::aws_sdk_ecs::types::DesiredStatus::Stopped,
            ] {
                let out = ecs
                    .list_tasks()
                    .cluster(&self.cluster_arn)
                    .desired_status(status)
                    .send()
                    .await
                    .expect("ecs:ListTasks");
                all.extend(out.task_arns().iter().cloned());
            }
            all
        })
    }

    /// Every message in the feedback queue (received and deleted).
    pub fn drain_feedback(&self) -> Vec<Feedback> {
        self.drain_queue(&self.queue_url)
    }

    /// Every message in the queue at `queue_url` (received and deleted).
    pub fn drain_queue(&self, queue_url: &str) -> Vec<Feedback> {
        let sqs = airlock_aws::sqs(&self.moto.sdk_config());
        self.runtime.block_on(async {
            let mut all = Vec::new();
            loop {
                let out = sqs
                    .receive_message()
                    .queue_url(queue_url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(0)
                    .send()
                    .await
                    .expect("sqs:ReceiveMessage");
                if out.messages().is_empty() {
                    return all;
                }
                for m in out.messages() {
                    let body = m.body().unwrap_or_default();
                    all.push(Feedback::from_json(body).expect("feedback parses"));
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .send()
                        .await
                        .expect("sqs:DeleteMessage");
                }
            }
        })
    }
}

pub fn random_hex(bytes: usize) -> String {
    use rand_core::RngCore as _;
    let mut buf = vec![0u8; bytes];
    rand_core::OsRng.fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A valid request for job `web`, issued just now for five minutes.
pub fn valid_request() -> DeployRequest {
    let now = OffsetDateTime::now_utc();
    DeployRequest {
        v: airlock_protocol::PROTOCOL_VERSION,
        request_id: uuid::Uuid::new_v4().to_string(),
        job: "web".into(),
        params: BTreeMap::from([("VERSION".into(), "v1.2.3".into())]),
        image: None,
        requester: Requester {
            ci: "github-actions".into(),
            repository: Some("example/app".into()),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            run_url: None,
            actor: Some("test-actor".into()),
        },
        issued_at: now - time::Duration::seconds(5),
        expires_at: now + time::Duration::seconds(295),
        nonce: random_hex(16),
        timeout_secs: None,
    }
}

pub fn sign(request: &DeployRequest, key: &SigningKey, key_id: &str) -> String {
    sign_payload(
        RequestKind::Deploy,
        &SignedRequest::deploy_payload(request),
        key,
        key_id,
    )
}

pub fn sign_cancel(request: &CancelRequest) -> String {
    sign_payload(
        RequestKind::Cancel,
        &SignedRequest::cancel_payload(request),
        &trusted_key(),
        KEY_ID,
    )
}

pub fn sign_payload(kind: RequestKind, payload: &[u8], key: &SigningKey, key_id: &str) -> String {
    let signature: p256::ecdsa::Signature = key.sign(payload);
    SignedRequest::new(kind, payload, key_id, signature.to_der().as_bytes()).to_json()
}

pub fn cancel_for(request: &DeployRequest) -> CancelRequest {
    let now = OffsetDateTime::now_utc();
    CancelRequest {
        v: airlock_protocol::PROTOCOL_VERSION,
        request_id: request.request_id.clone(),
        job: request.job.clone(),
        requester: request.requester.clone(),
        issued_at: now - time::Duration::seconds(1),
        expires_at: now + time::Duration::seconds(120),
        nonce: random_hex(16),
        reason: "SIGINT in CI".into(),
    }
}

/// The bodies of the dispatcher's messages to `request_id`.
pub fn bodies_for(feedback: &[Feedback], request_id: &str) -> Vec<FeedbackBody> {
    feedback
        .iter()
        .filter(|f| f.request_id == request_id)
        .map(|f| f.body.clone())
        .collect()
}
