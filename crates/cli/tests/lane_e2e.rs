//! The deploy lane end to end against a real moto server: `airlock deploy` (the CI side) and
//! `airlock run` (the runner) are separate processes of the real binary, talking only through
//! SNS, SQS and KMS. The test plays the dispatcher (lane_dispatch_e2e.rs runs the real one): it takes
//! the signed request from the SQS queue subscribed to the topic with raw delivery, verifies
//! it with the KMS public key, and starts the runner for it.
//!
//! Each job's output through the lane must be byte-identical, per stream, to what the same job
//! prints when run directly, and `airlock deploy` must exit with the job's exit code.
#![cfg(feature = "aws")]

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airlock_protocol::signing::{SignedRequest, VerifiedRequest, public_key_from_der_or_pem};
use airlock_testsupport::{Fault, FaultPlan, FaultProxy, FaultRates, MotoServer, fixtures};
use common::run_directly;

struct Lane {
    moto: MotoServer,
    runtime: tokio::runtime::Runtime,
    requests: fixtures::TopicQueue,
    feedback_url: String,
    key_id: String,
    verifying_key: p256::ecdsa::VerifyingKey,
}

impl Lane {
    fn start() -> Lane {
        let moto = MotoServer::start().expect("moto starts");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let config = moto.sdk_config();
        let lane = runtime
            .block_on(fixtures::lane_endpoints(&config))
            .expect("lane endpoints");
        let verifying_key = public_key_from_der_or_pem(&lane.public_key_der).expect("p256 key");
        let fixtures::LaneEndpoints {
            requests,
            feedback_url,
            key_id,
            ..
        } = lane;
        Lane {
            moto,
            runtime,
            requests,
            feedback_url,
            key_id,
            verifying_key,
        }
    }

    /// Plays the dispatcher: waits for the next signed request on the request queue, verifies
    /// it, deletes it, and returns its request id.
    fn take_request(&self) -> String {
        let body = self
            .runtime
            .block_on(fixtures::take_message(
                &self.moto.sdk_config(),
                &self.requests.queue_url,
                Duration::from_secs(60),
            ))
            .expect("a deploy request");
        let envelope = SignedRequest::from_json(&body).expect("envelope");
        assert_eq!(envelope.key_id, self.key_id);
        match envelope.verify(&self.verifying_key).expect("signature") {
            VerifiedRequest::Deploy(request) => {
                assert_eq!(request.job, "e2e");
                request.request_id
            }
            other => panic!("expected a deploy request, got {other:?}"),
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
            .env("NO_COLOR", "1")
            .current_dir(std::env::temp_dir());
        command
    }

    /// Runs `script` through the lane and returns (stdout, stderr, exit code) as `airlock
    /// deploy` printed them.
    fn deploy(&self, script: &str) -> (Vec<u8>, Vec<u8>, i32) {
        self.deploy_with(script, &Case::default()).0
    }

    /// Like [`Lane::deploy`], with the variations of `case`; also returns how long `airlock
    /// deploy` took and the request id.
    fn deploy_with(
        &self,
        script: &str,
        case: &Case,
    ) -> ((Vec<u8>, Vec<u8>, i32), Duration, String) {
        let started = Instant::now();
        let mut deploy = self.airlock();
        deploy
            .args(["-q", "deploy", "--job", "e2e", "--watchdog", &case.watchdog])
            // airlock's own diagnostics share stderr with the job's: silence them, unless the
            // case is about them.
            .env(
                "AIRLOCK_LOG",
                if case.diagnostics { "error" } else { "off" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(endpoint) = &case.sqs_endpoint {
            deploy.env("AWS_ENDPOINT_URL_SQS", endpoint);
        }
        let mut deploy = deploy.spawn().expect("spawn airlock deploy");
        let stdout = drain(deploy.stdout.take().expect("stdout"));
        let stderr = drain(deploy.stderr.take().expect("stderr"));

        let request_id = self.take_request();
        let mut runner = self.airlock();
        runner
            .args([
                "-q",
                "run",
                "--request-id",
                &request_id,
                "--feedback",
                &self.feedback_url,
                "--",
                "sh",
                "-c",
                script,
            ])
            .envs(case.runner_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(endpoint) = &case.sqs_endpoint {
            runner.env("AWS_ENDPOINT_URL_SQS", endpoint);
        }
        let mut runner = runner.spawn().expect("spawn airlock run");
        let echo = drain(runner.stdout.take().expect("runner stdout"));
        if let Some(after) = case.kill_runner_after {
            std::thread::sleep(after);
            let _ = runner.kill();
        }

        let runner_status = runner.wait().expect("runner exits");
        let status = deploy.wait().expect("deploy exits");
        let elapsed = started.elapsed();
        let (out, err) = (
            stdout.join().expect("stdout reader"),
            stderr.join().expect("stderr reader"),
        );
        let echo = echo.join().expect("echo reader");
        if let Some(secret) = &case.secret {
            assert!(
                !contains(&echo, secret.as_bytes()),
                "the runner's own echo shows the secret"
            );
        }
        let code = status.code().expect("deploy exited normally");
        if case.kill_runner_after.is_none() {
            assert_eq!(
                runner_status.code(),
                Some(code),
                "the runner and deploy disagree on the exit code; deploy stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        ((out, err, code), elapsed, request_id)
    }
}

/// Variations of one deployment.
struct Case {
    watchdog: String,
    diagnostics: bool,
    /// Where the runner and the follower send their SQS calls (a fault proxy).
    sqs_endpoint: Option<String>,
    runner_env: Vec<(String, String)>,
    kill_runner_after: Option<Duration>,
    /// A value that must not appear in the runner's echo.
    secret: Option<String>,
}

impl Default for Case {
    fn default() -> Case {
        Case {
            watchdog: "60s".into(),
            diagnostics: false,
            sqs_endpoint: None,
            runner_env: Vec::new(),
            kill_runner_after: None,
            secret: None,
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn assert_same(label: &str, lane: &(Vec<u8>, Vec<u8>, i32), direct: &(Vec<u8>, Vec<u8>, i32)) {
    assert_eq!(lane.2, direct.2, "{label}: exit code");
    assert!(
        lane.0 == direct.0,
        "{label}: stdout differs ({} bytes through the lane, {} direct); first difference at byte {:?}",
        lane.0.len(),
        direct.0.len(),
        lane.0.iter().zip(&direct.0).position(|(a, b)| a != b)
    );
    assert!(
        lane.1 == direct.1,
        "{label}: stderr differs ({} bytes through the lane, {} direct):\n{}",
        lane.1.len(),
        direct.1.len(),
        String::from_utf8_lossy(&lane.1)
    );
}

/// One moto server for the scenarios (nextest runs each test in its own process, so they
/// would each start one anyway); each scenario is a separate deploy on the same lane.
#[test]
fn every_kind_of_output_arrives_byte_identical_with_the_exit_code() {
    let lane = Lane::start();
    let scenarios: [(&str, &str); 8] = [
        ("100,000 lines", "seq 1 100000"),
        (
            "interleaved stdout and stderr",
            "i=0; while [ $i -lt 2000 ]; do echo out $i; echo err $i >&2; i=$((i+1)); done",
        ),
        (
            "ANSI colour, invalid UTF-8, NUL and carriage returns",
            r"printf '\033[31mred\033[0m plain\r\nprogress 10%%\rprogress 100%%\n\377\376 not utf-8\n\000nul\n'; printf '\033[1;33mwarn\033[0m\n' >&2",
        ),
        (
            "one 3 MiB line",
            "head -c 3145728 /dev/zero | tr '\\000' x; echo; echo after",
        ),
        ("exit 0", "echo fine"),
        ("exit 1", "echo failing >&2; exit 1"),
        ("exit 42", "echo answer; exit 42"),
        ("death by SIGKILL", "echo dying; kill -9 $$"),
    ];
    for (label, script) in scenarios {
        let expected = run_directly(script);
        let through_lane = lane.deploy(script);
        assert_same(label, &through_lane, &expected);
    }
}

/// Dropped connections, lost responses, 500s, throttling and delays of up to 3 s on every SQS
/// call of both the runner and the follower: nothing lost, doubled or out of order.
#[test]
fn sqs_faults_on_both_sides_lose_and_double_nothing() {
    let lane = Lane::start();
    let rates = FaultRates {
        drop_connection: 0.05,
        drop_response: 0.05,
        server_error: 0.05,
        throttle: 0.08,
        duplicate: 0.05,
        delay: 0.1,
        max_delay: Duration::from_secs(3),
    };
    let proxy = FaultProxy::start(
        &lane.moto.endpoint(),
        FaultPlan::random(2026, rates).only_for([
            "SendMessageBatch",
            "ReceiveMessage",
            "DeleteMessageBatch",
        ]),
    )
    .expect("proxy");
    let script = "i=0; while [ $i -lt 3000 ]; do echo out $i; echo err $i >&2; i=$((i+1)); \
                  [ $((i % 500)) -eq 0 ] && sleep 0.3; done; exit 3";
    let case = Case {
        sqs_endpoint: Some(proxy.endpoint()),
        ..Case::default()
    };
    let expected = run_directly(script);
    let (through_lane, _, _) = lane.deploy_with(script, &case);
    assert_same("through faults", &through_lane, &expected);
    let faults: Vec<Fault> = proxy
        .requests()
        .into_iter()
        .map(|r| r.fault)
        .filter(|f| *f != Fault::Pass)
        .collect();
    assert!(
        faults.len() >= 3,
        "the plan injected too few faults to prove anything: {faults:?}"
    );
}

/// A runner killed mid-run (no Finished, no heartbeats) makes the follower give up within its
/// watchdog, with a message naming the request.
#[test]
fn a_killed_runner_trips_the_watchdog_within_its_bound() {
    let lane = Lane::start();
    let case = Case {
        watchdog: "3s".into(),
        diagnostics: true,
        kill_runner_after: Some(Duration::from_secs(1)),
        ..Case::default()
    };
    let ((out, err, code), elapsed, request_id) = lane.deploy_with("echo started; sleep 60", &case);
    assert_eq!(code, 252, "{}", String::from_utf8_lossy(&err));
    assert_eq!(out, b"started\n");
    let err = String::from_utf8_lossy(&err);
    assert!(
        err.contains(&format!("lost contact with deployment {request_id}")),
        "{err}"
    );
    // Killed after 1 s; watchdog 3 s after the last message; the rest is process start-up
    // and one receive's slack.
    assert!(
        elapsed < Duration::from_secs(12),
        "the watchdog took {elapsed:?}"
    );
}

/// A secret in the runner's environment never reaches the feedback, even when the job prints
/// it in two pieces that the runner reads separately.
#[test]
fn secrets_are_masked_even_when_split_across_reads() {
    let lane = Lane::start();
    let secret = "hunter2-correct-horse-battery";
    let case = Case {
        runner_env: vec![("DB_PASSWORD".into(), secret.into())],
        secret: Some(secret.into()),
        ..Case::default()
    };
    let script = "printf 'password is hunter2-cor'; sleep 0.3; \
                  printf 'rect-horse-battery, ok\n'; echo \"$DB_PASSWORD\" >&2";
    let (out, err, code) = lane.deploy_with(script, &case).0;
    assert_eq!(code, 0);
    assert!(
        !contains(&out, secret.as_bytes()),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(
        !contains(&err, secret.as_bytes()),
        "{}",
        String::from_utf8_lossy(&err)
    );
    assert_eq!(String::from_utf8_lossy(&out), "password is ***, ok\n");
    assert_eq!(String::from_utf8_lossy(&err), "***\n");
}
