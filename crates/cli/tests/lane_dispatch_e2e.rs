//! The whole lane with the real dispatcher, against moto: `airlock deploy` signs with KMS and
//! publishes to SNS; the dispatcher's handler (driven by this test from the SQS queue
//! subscribed to the topic, since moto cannot invoke a Lambda without Docker) validates the
//! request and calls RunTask; the test then plays Fargate, starting `airlock run` with exactly
//! the environment ECS holds in that task's overrides; `airlock deploy` prints the job's output
//! and exits with its code.
#![cfg(feature = "aws")]

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use airlock_dispatch::aws::AwsPorts;
use airlock_dispatch::dispatcher::{StopNotice, StoppedTask};
use airlock_dispatch::{Decision, DispatchConfig, Dispatcher};
use airlock_testsupport::{MotoServer, fixtures};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};

struct Production {
    moto: MotoServer,
    runtime: tokio::runtime::Runtime,
    requests: fixtures::TopicQueue,
    feedback_url: String,
    key_id: String,
    cluster: String,
    dispatcher: Dispatcher<AwsPorts>,
}

impl Production {
    fn start() -> Production {
        Production::start_trusting(None)
    }

    /// With `other_key` (PEM), the dispatcher trusts that public key under the lane key's id
    /// instead of the key's own: a dispatcher configured with the wrong public key.
    fn start_trusting(other_key: Option<String>) -> Production {
        let moto = MotoServer::start().expect("moto starts");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let sdk = moto.sdk_config();
        let (lane, target) = runtime.block_on(async {
            let lane = fixtures::lane_endpoints(&sdk)
                .await
                .expect("lane endpoints");
            let target = fixtures::deploy_target(&sdk).await.expect("deploy target");
            fixtures::ttl_table(&sdk, "airlock-lane", "pk", "ttl")
                .await
                .expect("table");
            (lane, target)
        });
        let pem = airlock_protocol::signing::public_key_from_der_or_pem(&lane.public_key_der)
            .expect("p256")
            .to_public_key_pem(LineEnding::LF)
            .expect("pem");
        let pem = other_key.unwrap_or(pem);
        let fixtures::LaneEndpoints {
            requests,
            feedback_url,
            key_id,
            ..
        } = lane;
        let (network, cluster, task) = (target.network, target.cluster_arn, target.task_definition);
        let config = format!(
            r#"[dispatch]
table = "airlock-lane"
[dispatch.keys]
"{key_id}" = """
{pem}"""
[dispatch.jobs.e2e]
cluster = "{cluster}"
task_definition = "{task}"
container = "deploy"
subnets = ["{subnet}"]
security_groups = ["{sg}"]
feedback_queue_url = "{feedback_url}"
timeout_secs = 120
[dispatch.jobs.e2e.params.VERSION]
pattern = "v[0-9]+\\.[0-9]+\\.[0-9]+"
"#,
            subnet = network.subnet_id,
            sg = network.security_group_id
        );
        let config = DispatchConfig::parse(&config, "dispatch.toml").expect("config");
        let ports = AwsPorts::new(&sdk, &config.table);
        let dispatcher = Dispatcher::new(Arc::new(config), ports);
        Production {
            moto,
            runtime,
            requests,
            feedback_url,
            key_id,
            cluster,
            dispatcher,
        }
    }

    fn airlock(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
        command
            .envs(self.moto.env())
            .env_remove("AIRLOCK_CONFIG")
            .env("AIRLOCK_LANE_TOPIC_ARN", &self.requests.topic_arn)
            .env("AIRLOCK_LANE_FEEDBACK_QUEUE_URL", &self.feedback_url)
            .env("AIRLOCK_LANE_SIGNING_KEY_ID", &self.key_id)
            .env("AIRLOCK_LOG", "error")
            .env("NO_COLOR", "1")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null());
        command
    }

    /// `airlock deploy --job e2e --param PARAM` in the background, its output piped.
    fn spawn_deploy(&self, param: &str) -> std::process::Child {
        self.spawn_deploy_of("e2e", param)
    }

    /// `airlock deploy --job JOB --param PARAM` in the background, its output piped.
    fn spawn_deploy_of(&self, job: &str, param: &str) -> std::process::Child {
        self.airlock()
            .args([
                "deploy",
                "--job",
                job,
                "--param",
                param,
                "--watchdog",
                "60s",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("airlock deploy")
    }

    /// The dispatcher's SNS subscription: the next envelope on the topic's queue, handled.
    fn dispatch_next(&self) -> Decision {
        self.runtime.block_on(async {
            let envelope = fixtures::take_message(
                &self.moto.sdk_config(),
                &self.requests.queue_url,
                Duration::from_secs(60),
            )
            .await
            .expect("a request on the topic");
            self.dispatcher
                .handle_envelope(&envelope)
                .await
                .expect("dispatch")
        })
    }

    /// EventBridge's "ECS Task State Change" STOPPED event for `task_arn`, whose runner
    /// container (`deploy`) exited with `exit_code`, handled.
    fn task_exited(&self, task_arn: &str, exit_code: i32) -> Decision {
        let stopped = StoppedTask {
            task_arn: task_arn.to_string(),
            stop_code: "EssentialContainerExited".into(),
            stopped_reason: "Essential container in task exited".into(),
            containers: vec![("deploy".into(), Some(exit_code))],
        };
        self.runtime
            .block_on(self.dispatcher.handle_stopped(&stopped))
            .expect("stopped")
    }

    /// How many messages the feedback queue holds, visible or received and not yet deleted.
    fn feedback_left(&self) -> u64 {
        let count = self
            .runtime
            .block_on(fixtures::messages_in(
                &self.moto.sdk_config(),
                &self.feedback_url,
            ))
            .expect("sqs:GetQueueAttributes");
        u64::try_from(count).unwrap_or(u64::MAX)
    }

    /// The container's environment as ECS holds it for `task_arn`.
    fn task_environment(&self, task_arn: &str) -> Vec<(String, String)> {
        let task = self
            .runtime
            .block_on(fixtures::describe_task(
                &self.moto.sdk_config(),
                &self.cluster,
                task_arn,
            ))
            .expect("ecs:DescribeTasks");
        task.overrides()
            .and_then(|o| o.container_overrides().first())
            .map(|c| {
                c.environment()
                    .iter()
                    .map(|kv| {
                        (
                            kv.name().unwrap_or_default().to_string(),
                            kv.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

#[test]
fn deploy_through_the_real_dispatcher_prints_the_job_and_exits_with_its_code() {
    let prod = Production::start();
    let mut deploy = prod.spawn_deploy("VERSION=v1.2.3");
    let stdout = drain(deploy.stdout.take().expect("stdout"));
    let stderr = drain(deploy.stderr.take().expect("stderr"));

    let decision = prod.dispatch_next();
    let Decision::Started { task_arn, .. } = decision else {
        panic!("the dispatcher did not start the task: {decision:?}");
    };
    // Fargate's part: the task definition's entrypoint with the overrides' environment. The
    // job's command is the task definition's; here, a shell script standing in for it.
    let environment = prod.task_environment(&task_arn);
    assert!(environment.iter().any(|(k, _)| k == "AIRLOCK_FEEDBACK"));
    let runner = prod
        .airlock()
        .args([
            "-q",
            "run",
            "--",
            "sh",
            "-c",
            "echo \"deploying $VERSION for $AIRLOCK_REQUEST_ID\"; echo 'to stderr' >&2; exit 42",
        ])
        .env_remove("AIRLOCK_LOG")
        .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("airlock run");
    assert_eq!(runner.code(), Some(42));

    let status = deploy.wait().expect("deploy exits");
    let out = String::from_utf8_lossy(&stdout.join().expect("stdout")).into_owned();
    let err = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
    assert_eq!(status.code(), Some(42), "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.starts_with("deploying v1.2.3 for "), "{out}");
    assert!(err.contains("to stderr"), "{err}");

    // ECS reports the task stopped. The runner reported the end (its exit code is the job's):
    // the lane is freed and nothing is sent that no follower would read.
    let decision = prod.task_exited(&task_arn, 42);
    assert!(
        matches!(
            decision,
            Decision::TaskStopped {
                notice: StopNotice::RunnerReported,
                ..
            }
        ),
        "{decision:?}"
    );
    assert_eq!(
        prod.feedback_left(),
        0,
        "messages left in the feedback queue"
    );
}

/// The runner cannot deliver `Finished` (its feedback queue is gone): it exits 125, and the
/// STOPPED event tells the follower instead, which ends with the task-stopped code.
#[test]
fn a_runner_that_cannot_report_exits_125_and_the_dispatcher_tells_the_follower() {
    let prod = Production::start();
    let mut deploy = prod.spawn_deploy("VERSION=v1.2.3");
    let stderr = drain(deploy.stderr.take().expect("stderr"));
    let decision = prod.dispatch_next();
    let Decision::Started { task_arn, .. } = decision else {
        panic!("the dispatcher did not start the task: {decision:?}");
    };
    let environment = prod.task_environment(&task_arn);
    let missing_queue = format!("{}-that-does-not-exist", prod.feedback_url);
    let runner = prod
        .airlock()
        .args(["-q", "run", "--", "sh", "-c", "echo unheard; exit 3"])
        .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AIRLOCK_FEEDBACK", &missing_queue)
        .env("AIRLOCK_DELIVERY_TIMEOUT", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("airlock run");
    assert_eq!(
        runner.code(),
        Some(i32::from(airlock_protocol::RUNNER_UNREPORTED_EXIT))
    );

    let decision = prod.task_exited(&task_arn, 125);
    assert!(
        matches!(
            decision,
            Decision::TaskStopped {
                notice: StopNotice::Sent,
                ..
            }
        ),
        "{decision:?}"
    );
    let status = deploy.wait().expect("deploy exits");
    let err = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(err.contains("EssentialContainerExited"), "{err}");
}

/// `airlock deploy --job nope` hears `unknown_job` at once, with the jobs there are, instead
/// of waiting for its watchdog.
#[test]
fn deploy_of_a_mistyped_job_is_refused_at_once_naming_the_configured_jobs() {
    let prod = Production::start();
    let started = std::time::Instant::now();
    let err = refused(
        &prod,
        prod.spawn_deploy_of("nope", "VERSION=v1.2.3"),
        "unknown_job",
    );
    assert!(
        err.contains("unknown_job") && err.contains("(configured: e2e)"),
        "{err}"
    );
    // The watchdog is 60 s: this answer came from the dispatcher, not from giving up.
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn deploy_of_a_hostile_parameter_is_refused_by_the_dispatcher_with_its_reason() {
    let prod = Production::start();
    let err = refused(&prod, prod.spawn_deploy("VERSION=$(id)"), "bad_params");
    assert!(err.contains("VERSION") && err.contains("pattern"), "{err}");
}

/// Dispatches the request `deploy` published, which must be refused with `code` and its
/// follower told; then `deploy` must exit 251. Returns its stderr.
fn refused(prod: &Production, mut deploy: std::process::Child, code: &str) -> String {
    let stderr = drain(deploy.stderr.take().expect("stderr"));
    let decision = prod.dispatch_next();
    assert!(
        matches!(
            &decision,
            Decision::Rejected {
                code: refused_code,
                notified: true,
                ..
            } if *refused_code == code
        ),
        "{decision:?}"
    );
    let status = deploy.wait().expect("deploy exits");
    let err = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
    assert_eq!(status.code(), Some(251), "{err}");
    err
}

/// `airlock lane doctor` in the background, its output piped.
fn spawn_doctor(prod: &Production, wait: &str) -> std::process::Child {
    prod.airlock()
        .args(["lane", "doctor", "--job", "e2e", "--wait", wait])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("airlock lane doctor")
}

fn report_line<'a>(report: &'a str, what: &str) -> &'a str {
    report
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(what))
        .unwrap_or_else(|| panic!("no {what} line in:\n{report}"))
}

#[test]
fn lane_doctor_proves_the_whole_loop_with_an_expired_probe_and_starts_nothing() {
    let prod = Production::start();
    let doctor = spawn_doctor(&prod, "60s");
    let decision = prod.dispatch_next();
    let Decision::Rejected {
        code: "expired",
        notified: true,
        request_id: Some(probe_id),
        ..
    } = &decision
    else {
        panic!("the dispatcher did not refuse the probe as expired: {decision:?}");
    };
    let out = doctor.wait_with_output().expect("doctor exits");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{report}\n{err}");
    for what in [
        "kms:Sign",
        "kms:GetPublicKey",
        "sqs:ReceiveMessage",
        "sns:Publish",
        "dispatcher",
    ] {
        assert!(report_line(&report, what).starts_with("ok "), "{report}");
    }
    assert!(report.contains(probe_id.as_str()), "{report}");
    assert!(
        report_line(&report, "dispatcher").contains("Rejected{expired}"),
        "{report}"
    );
    assert!(
        report.ends_with("lane doctor: every check passed\n"),
        "{report}"
    );
    // The answer was taken, and nothing was started.
    let left = prod.runtime.block_on(fixtures::take_message(
        &prod.moto.sdk_config(),
        &prod.feedback_url,
        Duration::from_secs(1),
    ));
    assert!(left.is_err(), "the feedback queue still holds {left:?}");
    let ecs = airlock_aws::ecs(&prod.moto.sdk_config());
    let tasks = prod
        .runtime
        .block_on(ecs.list_tasks().cluster(&prod.cluster).send())
        .expect("ecs:ListTasks");
    assert!(tasks.task_arns().is_empty(), "{:?}", tasks.task_arns());
}

#[test]
fn lane_doctor_names_a_key_the_dispatcher_does_not_trust_and_how_to_fix_it() {
    let other = p256::ecdsa::SigningKey::from_slice(&[0x17; 32])
        .expect("test key")
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let prod = Production::start_trusting(Some(other));
    let doctor = spawn_doctor(&prod, "60s");
    let decision = prod.dispatch_next();
    assert!(
        matches!(
            &decision,
            Decision::Rejected {
                code: "bad_signature",
                notified: true,
                ..
            }
        ),
        "{decision:?}"
    );
    let out = doctor.wait_with_output().expect("doctor exits");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{report}");
    // CI's side is fine; the dispatcher is not.
    assert!(
        report_line(&report, "kms:Sign").starts_with("ok "),
        "{report}"
    );
    assert!(
        report_line(&report, "kms:GetPublicKey").starts_with("ok "),
        "{report}"
    );
    let line = report_line(&report, "dispatcher");
    assert!(line.starts_with("PROBLEM "), "{report}");
    assert!(line.contains("Rejected{bad_signature}"), "{line}");
    assert!(
        line.contains(&format!("does not trust key {}", prod.key_id)),
        "{line}"
    );
    assert!(
        line.contains("-- fix: ") && line.contains("aws kms get-public-key"),
        "{line}"
    );
    assert!(report.ends_with("lane doctor: 1 problem(s)\n"), "{report}");
}

#[test]
fn lane_doctor_without_a_dispatcher_says_where_to_look() {
    let prod = Production::start();
    let out = spawn_doctor(&prod, "2s")
        .wait_with_output()
        .expect("doctor exits");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{report}");
    let line = report_line(&report, "dispatcher");
    assert!(
        line.starts_with("PROBLEM ") && line.contains("no answer"),
        "{line}"
    );
    assert!(
        line.contains("not subscribed") && line.contains("log group"),
        "{line}"
    );
}
