//! The deploy lane end to end against a real moto server: `airlock deploy` (the CI side) and
//! `airlock run` (the runner) are separate processes of the real binary, talking only through
//! SNS, SQS and KMS. The test plays the dispatcher (a later issue builds the Lambda): it takes
//! the signed request from the SQS queue subscribed to the topic with raw delivery, verifies
//! it with the KMS public key, and starts the runner for it.
//!
//! Each job's output through the lane must be byte-identical, per stream, to what the same job
//! prints when run directly, and `airlock deploy` must exit with the job's exit code.
#![cfg(feature = "aws")]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airlock_protocol::signing::{SignedRequest, VerifiedRequest, public_key_from_der_or_pem};
use airlock_testsupport::{MotoServer, fixtures};

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
        let (requests, feedback_url, key_id, verifying_key) = runtime.block_on(async {
            let requests = fixtures::topic_with_raw_queue(&config, "lane-requests")
                .await
                .expect("topic and request queue");
            let feedback_url = airlock_aws::sqs(&config)
                .create_queue()
                .queue_name("lane-feedback")
                .send()
                .await
                .expect("feedback queue")
                .queue_url()
                .expect("queue url")
                .to_string();
            let key_id = fixtures::signing_key(&config).await.expect("kms key");
            let public = airlock_aws::kms(&config)
                .get_public_key()
                .key_id(&key_id)
                .send()
                .await
                .expect("public key");
            let der = public.public_key().expect("der").as_ref().to_vec();
            let verifying_key = public_key_from_der_or_pem(&der).expect("p256 key");
            (requests, feedback_url, key_id, verifying_key)
        });
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
        let sqs = airlock_aws::sqs(&self.moto.sdk_config());
        let deadline = Instant::now() + Duration::from_secs(60);
        self.runtime.block_on(async {
            loop {
                assert!(Instant::now() < deadline, "no deploy request arrived");
                let received = sqs
                    .receive_message()
                    .queue_url(&self.requests.queue_url)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .expect("receive request");
                let Some(message) = received.messages().first() else {
                    continue;
                };
                sqs.delete_message()
                    .queue_url(&self.requests.queue_url)
                    .receipt_handle(message.receipt_handle().expect("receipt"))
                    .send()
                    .await
                    .expect("delete request");
                let envelope =
                    SignedRequest::from_json(message.body().expect("body")).expect("envelope");
                assert_eq!(envelope.key_id, self.key_id);
                match envelope.verify(&self.verifying_key).expect("signature") {
                    VerifiedRequest::Deploy(request) => {
                        assert_eq!(request.job, "e2e");
                        return request.request_id;
                    }
                    other => panic!("expected a deploy request, got {other:?}"),
                }
            }
        })
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
        let mut deploy = self
            .airlock()
            .args(["-q", "deploy", "--job", "e2e", "--watchdog", "60s"])
            // airlock's own diagnostics share stderr with the job's: silence them here.
            .env("AIRLOCK_LOG", "off")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn airlock deploy");
        let stdout = drain(deploy.stdout.take().expect("stdout"));
        let stderr = drain(deploy.stderr.take().expect("stderr"));

        let request_id = self.take_request();
        let mut runner = self
            .airlock()
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn airlock run");

        let runner_status = runner.wait().expect("runner exits");
        let status = deploy.wait().expect("deploy exits");
        let (out, err) = (
            stdout.join().expect("stdout reader"),
            stderr.join().expect("stderr reader"),
        );
        let code = status.code().expect("deploy exited normally");
        assert_eq!(
            runner_status.code(),
            Some(code),
            "the runner and deploy disagree on the exit code; deploy stderr:\n{}",
            String::from_utf8_lossy(&err)
        );
        (out, err, code)
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// The job run directly: what the lane must reproduce.
fn direct(script: &str) -> (Vec<u8>, Vec<u8>, i32) {
    let out = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("run job directly");
    let code = out.status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + out.status.signal().expect("signal")
    });
    (out.stdout, out.stderr, code)
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
        let expected = direct(script);
        let through_lane = lane.deploy(script);
        assert_same(label, &through_lane, &expected);
    }
}
