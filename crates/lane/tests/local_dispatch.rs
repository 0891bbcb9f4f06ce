//! The local dispatcher against crafted envelopes: every refusal code, the lane lock,
//! cancel, and the spawned runner's command line and environment (through a stand-in
//! `airlock` that records what it was given, so these tests do not need `airlock run`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use airlock_lane::config::LaneConfig;
use airlock_lane::local::dispatch::{Decision, DispatcherSettings, LocalDispatcher, codes};
use airlock_lane::local::signer::LocalSigner;
use airlock_lane::local::{LocalLane, LocalQueue};
use airlock_lane::transport::{FeedbackSource, RequestSigner, RequestSink};
use airlock_protocol::{
    CancelRequest, DeployRequest, Feedback, FeedbackBody, PROTOCOL_VERSION, RequestKind, Requester,
    SignedRequest,
};
use time::OffsetDateTime;

const CONFIG: &str = r#"
[lane.jobs.hello]
command = ["./jobs/hello.sh", "--greet"]
timeout_secs = 60
[lane.jobs.hello.params.MODE]
enum = ["quick", "wait", "die", "unreported"]
[lane.jobs.hello.params.EXIT_CODE]
pattern = "[0-9]{1,3}"
"#;

/// Records its argv, environment and working directory under `runs/<request id>/`, then
/// behaves as `MODE` says: exit at once, wait for SIGTERM, die by SIGKILL, or exit 125 as
/// `airlock run` does when it could not deliver `Finished`.
const STAND_IN: &str = r#"#!/bin/sh
out="__DIR__/runs/$AIRLOCK_REQUEST_ID"
mkdir -p "$out"
printf '%s\n' "$@" > "$out/argv"
env > "$out/env"
pwd > "$out/cwd"
case "$MODE" in
  wait)
    trap 'echo TERM > "$out/signal"; exit 143' TERM
    touch "$out/waiting"
    while :; do sleep 0.05; done ;;
  die) kill -9 $$ ;;
  unreported) exit 125 ;;
esac
exit 0
"#;

struct Lane {
    dir: tempfile::TempDir,
    lane: LocalLane,
    signer: LocalSigner,
    dispatcher: LocalDispatcher,
    feedback: LocalQueue,
}

impl Lane {
    async fn new() -> Lane {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("airlock.toml");
        std::fs::write(&config_path, CONFIG).expect("config");
        let config = LaneConfig::load(&config_path).expect("valid config");
        let stand_in = dir.path().join("fake-airlock");
        std::fs::write(
            &stand_in,
            STAND_IN.replace("__DIR__", &dir.path().display().to_string()),
        )
        .expect("stand-in");
        std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let signer = LocalSigner::load_or_create(&config.local.key).expect("signer");
        let lane = LocalLane::open(&config.local.db).await.expect("lane file");
        let dispatcher = LocalDispatcher::new(
            lane.clone(),
            DispatcherSettings {
                verifying_key: *signer.verifying_key(),
                key_id: signer.key_id().to_string(),
                airlock_binary: stand_in,
                feedback_queue: "feedback".into(),
                config: Arc::new(config),
            },
        );
        let feedback = lane.queue("feedback");
        Lane {
            dir,
            lane,
            signer,
            dispatcher,
            feedback,
        }
    }

    /// Publishes an envelope and dispatches it.
    async fn dispatch(&self, envelope: &str) -> Decision {
        self.lane
            .requests()
            .publish(envelope)
            .await
            .expect("publish");
        self.dispatcher
            .dispatch_once(Duration::ZERO)
            .await
            .expect("dispatch")
            .expect("the request was taken")
    }

    /// Every feedback message now in the queue (and deletes them).
    async fn feedback(&self) -> Vec<Feedback> {
        let mut all = Vec::new();
        loop {
            let batch = self
                .feedback
                .receive(10, Duration::from_millis(20))
                .await
                .expect("receive");
            if batch.is_empty() {
                return all;
            }
            let handles: Vec<String> = batch.iter().map(|m| m.handle.clone()).collect();
            for message in batch {
                all.push(Feedback::from_json(&message.body).expect("feedback JSON"));
            }
            self.feedback.delete(&handles).await.expect("delete");
        }
    }

    fn run_dir(&self, request_id: &str) -> PathBuf {
        self.dir.path().join("runs").join(request_id)
    }
}

fn nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn request(id: &str, params: &[(&str, &str)]) -> DeployRequest {
    let now = OffsetDateTime::now_utc();
    DeployRequest {
        v: PROTOCOL_VERSION,
        request_id: id.to_string(),
        job: "hello".into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        image: None,
        requester: Requester {
            ci: "local".into(),
            actor: Some("alice".into()),
            ..Requester::default()
        },
        issued_at: now,
        expires_at: now + Duration::from_secs(300),
        nonce: nonce(),
        timeout_secs: None,
    }
}

fn sign_deploy(signer: &LocalSigner, request: &DeployRequest) -> String {
    let payload = SignedRequest::deploy_payload(request);
    let signature = signer.sign_now(&payload);
    SignedRequest::new(RequestKind::Deploy, &payload, signer.key_id(), &signature).to_json()
}

fn sign_cancel(signer: &LocalSigner, request_id: &str) -> String {
    let now = OffsetDateTime::now_utc();
    let cancel = CancelRequest {
        v: PROTOCOL_VERSION,
        request_id: request_id.to_string(),
        job: "hello".into(),
        requester: Requester {
            ci: "local".into(),
            actor: Some("alice".into()),
            ..Requester::default()
        },
        issued_at: now,
        expires_at: now + Duration::from_secs(300),
        nonce: nonce(),
        reason: "SIGINT from CI".into(),
    };
    let payload = SignedRequest::cancel_payload(&cancel);
    let signature = signer.sign_now(&payload);
    SignedRequest::new(RequestKind::Cancel, &payload, signer.key_id(), &signature).to_json()
}

/// Asserts a refusal with `code`, and that exactly one `Rejected` with that code reached
/// `request_id`'s feedback (or none when `notified` is false).
async fn assert_refused(
    lane: &Lane,
    outcome: Decision,
    request_id: Option<&str>,
    code: &str,
    reason_part: &str,
    notified: bool,
) {
    match &outcome {
        Decision::Rejected {
            request_id: got_id,
            code: got_code,
            reason,
            notified: got_notified,
            ..
        } => {
            assert_eq!(got_id.as_deref(), request_id, "{outcome:?}");
            assert_eq!(*got_code, code, "{outcome:?}");
            assert!(
                reason.contains(reason_part),
                "{reason:?} lacks {reason_part:?}"
            );
            assert_eq!(*got_notified, notified, "{outcome:?}");
        }
        other => panic!("expected a {code} refusal, got {other:?}"),
    }
    let feedback = lane.feedback().await;
    if notified {
        assert_eq!(feedback.len(), 1, "{feedback:?}");
        assert_eq!(Some(feedback[0].request_id.as_str()), request_id);
        assert_eq!(feedback[0].seq, 0);
        match &feedback[0].body {
            FeedbackBody::Rejected { code: got, reason } => {
                assert_eq!(got, code);
                assert!(reason.contains(reason_part), "{reason}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    } else {
        assert!(feedback.is_empty(), "{feedback:?}");
    }
}

#[tokio::test]
async fn every_refusal_code_is_reachable_from_a_crafted_envelope() {
    let lane = Lane::new().await;
    let signer = &lane.signer;

    // bad_envelope: not JSON at all (nobody to tell), and a signed request with a short nonce.
    let outcome = lane.dispatch("this is not an envelope").await;
    assert_refused(&lane, outcome, None, codes::BAD_ENVELOPE, "envelope", false).await;
    let mut short_nonce = request("r-short-nonce", &[]);
    short_nonce.nonce = "abc".into();
    let outcome = lane.dispatch(&sign_deploy(signer, &short_nonce)).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-short-nonce"),
        codes::BAD_ENVELOPE,
        "nonce",
        true,
    )
    .await;

    // unsupported_version: a newer envelope.
    let mut newer: serde_json::Value =
        serde_json::from_str(&sign_deploy(signer, &request("r-newer", &[]))).expect("json");
    newer["v"] = serde_json::json!(99);
    let outcome = lane.dispatch(&newer.to_string()).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-newer"),
        codes::UNSUPPORTED_VERSION,
        "99",
        true,
    )
    .await;

    // unknown_key: signed by some other key.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = LocalSigner::load_or_create(&other_dir.path().join("k.pem")).expect("signer");
    let outcome = lane
        .dispatch(&sign_deploy(&other, &request("r-other-key", &[])))
        .await;
    assert_refused(
        &lane,
        outcome,
        Some("r-other-key"),
        codes::UNKNOWN_KEY,
        other.key_id(),
        true,
    )
    .await;

    // bad_signature: the payload was changed after signing...
    let genuine = request("r-tampered", &[("MODE", "quick")]);
    let mut tampered: serde_json::Value =
        serde_json::from_str(&sign_deploy(signer, &genuine)).expect("json");
    let mut altered = genuine.clone();
    altered.params.insert("EXIT_CODE".into(), "7".into());
    tampered["payload"] =
        serde_json::Value::String(base64_encode(&SignedRequest::deploy_payload(&altered)));
    let outcome = lane.dispatch(&tampered.to_string()).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-tampered"),
        codes::BAD_SIGNATURE,
        "signature",
        true,
    )
    .await;
    // ...or another key signed it under our key id.
    let forged_payload = SignedRequest::deploy_payload(&request("r-forged", &[]));
    let forged = SignedRequest::new(
        RequestKind::Deploy,
        &forged_payload,
        signer.key_id(),
        &other.sign_now(&forged_payload),
    );
    let outcome = lane.dispatch(&forged.to_json()).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-forged"),
        codes::BAD_SIGNATURE,
        "signature",
        true,
    )
    .await;

    // The validity window.
    let now = OffsetDateTime::now_utc();
    let mut future = request("r-future", &[]);
    future.issued_at = now + Duration::from_secs(300);
    future.expires_at = now + Duration::from_secs(600);
    let outcome = lane.dispatch(&sign_deploy(signer, &future)).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-future"),
        codes::NOT_YET_VALID,
        "in the future",
        true,
    )
    .await;
    let mut old = request("r-old", &[]);
    old.issued_at = now - Duration::from_secs(3600);
    old.expires_at = now - Duration::from_secs(3000);
    let outcome = lane.dispatch(&sign_deploy(signer, &old)).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-old"),
        codes::EXPIRED,
        "expired at",
        true,
    )
    .await;
    let mut long = request("r-long", &[]);
    long.expires_at = long.issued_at + Duration::from_secs(20 * 60);
    let outcome = lane.dispatch(&sign_deploy(signer, &long)).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-long"),
        codes::WINDOW_TOO_LONG,
        "the limit is 900 s",
        true,
    )
    .await;

    // replayed: a second request with a used nonce (CI must make a fresh one each time).
    let first = request("r-first", &[("MODE", "quick")]);
    assert!(matches!(
        lane.dispatch(&sign_deploy(signer, &first)).await,
        Decision::Started { .. }
    ));
    lane.dispatcher.wait_for_jobs().await;
    lane.feedback().await;
    let mut reuse = request("r-reuse", &[]);
    reuse.nonce = first.nonce.clone();
    let outcome = lane.dispatch(&sign_deploy(signer, &reuse)).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-reuse"),
        codes::REPLAYED,
        "r-first",
        true,
    )
    .await;
    // The same envelope delivered twice is a duplicate, dropped without a word: a Rejected
    // would make the accepted request's follower give up.
    let outcome = lane.dispatch(&sign_deploy(signer, &first)).await;
    assert_eq!(
        outcome,
        Decision::Duplicate {
            request_id: "r-first".into()
        }
    );
    assert!(lane.feedback().await.is_empty());
    // A request id used again with a fresh nonce is refused too, but not announced (the
    // follower of the first request would read it as its own).
    let again = request("r-first", &[]);
    let outcome = lane.dispatch(&sign_deploy(signer, &again)).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-first"),
        codes::REPLAYED,
        "request id r-first",
        false,
    )
    .await;

    // unknown_job.
    let mut unknown = request("r-unknown-job", &[]);
    unknown.job = "rm-rf".into();
    let outcome = lane.dispatch(&sign_deploy(signer, &unknown)).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-unknown-job"),
        codes::UNKNOWN_JOB,
        "\"rm-rf\" is not in this lane's allowlist, [lane.jobs] (configured: hello)",
        true,
    )
    .await;

    // bad_params: an undeclared parameter, a value outside the schema.
    let outcome = lane
        .dispatch(&sign_deploy(
            signer,
            &request("r-param-1", &[("LD_PRELOAD", "/tmp/x.so")]),
        ))
        .await;
    assert_refused(
        &lane,
        outcome,
        Some("r-param-1"),
        codes::BAD_PARAMS,
        "unknown parameter \"LD_PRELOAD\"",
        true,
    )
    .await;
    let outcome = lane
        .dispatch(&sign_deploy(
            signer,
            &request("r-param-2", &[("EXIT_CODE", "1; reboot")]),
        ))
        .await;
    assert_refused(
        &lane,
        outcome,
        Some("r-param-2"),
        codes::BAD_PARAMS,
        "parameter EXIT_CODE",
        true,
    )
    .await;
    let mut with_image = request("r-image", &[]);
    with_image.image = Some(
        airlock_protocol::ImageRef::parse(&format!("deploy@sha256:{}", "a".repeat(64)))
            .expect("image"),
    );
    let outcome = lane.dispatch(&sign_deploy(signer, &with_image)).await;
    // bad_image: a local job takes no image (it runs its command on this machine).
    assert_refused(
        &lane,
        outcome,
        Some("r-image"),
        codes::BAD_IMAGE,
        "is not allowed for job hello (allowed: none)",
        true,
    )
    .await;
}

#[tokio::test]
async fn an_accepted_request_runs_the_runner_with_its_parameters() {
    let lane = Lane::new().await;
    let mut accepted = request("r-run", &[("MODE", "quick"), ("EXIT_CODE", "42")]);
    accepted.timeout_secs = Some(30);
    let outcome = lane.dispatch(&sign_deploy(&lane.signer, &accepted)).await;
    let Decision::Started {
        request_id,
        task_arn,
        ..
    } = outcome
    else {
        panic!("expected Started, got {outcome:?}");
    };
    assert_eq!(request_id, "r-run");
    let finished = lane.dispatcher.wait_for_jobs().await;
    assert_eq!(finished.len(), 1);
    assert!(finished[0].1.as_ref().expect("exit status").success());

    let feedback = lane.feedback().await;
    let bodies: Vec<&FeedbackBody> = feedback.iter().map(|f| &f.body).collect();
    assert_eq!(
        bodies,
        [
            &FeedbackBody::Accepted {
                job: "hello".into()
            },
            &FeedbackBody::Started {
                task: task_arn.clone()
            },
        ]
    );
    assert!(
        feedback
            .iter()
            .all(|f| f.seq == 0 && f.request_id == "r-run")
    );

    let run = lane.run_dir("r-run");
    let argv = std::fs::read_to_string(run.join("argv")).expect("argv");
    let db = lane.lane.path().display().to_string();
    assert_eq!(
        argv.lines().collect::<Vec<_>>(),
        [
            "run",
            "--request-id",
            "r-run",
            "--feedback",
            &format!("sqlite:{db}?queue=feedback"),
            "--deadline",
            "30",
            "--",
            "./jobs/hello.sh",
            "--greet",
        ]
    );
    let env = std::fs::read_to_string(run.join("env")).expect("env");
    for line in [
        "MODE=quick",
        "EXIT_CODE=42",
        "AIRLOCK_REQUEST_ID=r-run",
        "AIRLOCK_JOB=hello",
        "AIRLOCK_DEADLINE=30",
        &format!("AIRLOCK_FEEDBACK=sqlite:{db}?queue=feedback"),
    ] {
        assert!(
            env.lines().any(|l| l == line),
            "{line} missing from the job's environment"
        );
    }
    // Nothing of this test process's environment but the base reaches the job: cargo sets
    // CARGO_PKG_NAME for every test.
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    assert!(!env.contains("CARGO_PKG_NAME="), "{env}");
    let cwd = std::fs::read_to_string(run.join("cwd")).expect("cwd");
    assert_eq!(
        Path::new(cwd.trim()).canonicalize().expect("cwd"),
        lane.dir.path().canonicalize().expect("dir")
    );

    // The job's own timeout caps what the request asks for.
    let mut greedy = request("r-greedy", &[("MODE", "quick")]);
    greedy.timeout_secs = Some(86_400);
    assert!(matches!(
        lane.dispatch(&sign_deploy(&lane.signer, &greedy)).await,
        Decision::Started { .. }
    ));
    lane.dispatcher.wait_for_jobs().await;
    let argv = std::fs::read_to_string(lane.run_dir("r-greedy").join("argv")).expect("argv");
    assert!(argv.contains("--deadline\n60\n"), "{argv}");
}

#[tokio::test]
async fn a_busy_lane_refuses_a_second_deploy_until_the_first_is_cancelled() {
    let lane = Lane::new().await;
    let outcome = lane
        .dispatch(&sign_deploy(
            &lane.signer,
            &request("r-long-job", &[("MODE", "wait")]),
        ))
        .await;
    let Decision::Started { task_arn, .. } = outcome else {
        panic!("expected Started, got {outcome:?}");
    };
    // Wait until the stand-in has set its SIGTERM trap.
    let waiting = lane.run_dir("r-long-job").join("waiting");
    for _ in 0..200 {
        if waiting.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(waiting.exists(), "the stand-in runner did not start");
    lane.feedback().await;

    let outcome = lane
        .dispatch(&sign_deploy(
            &lane.signer,
            &request("r-second", &[("MODE", "quick")]),
        ))
        .await;
    assert_refused(
        &lane,
        outcome,
        Some("r-second"),
        codes::LANE_BUSY,
        "lane busy: request r-long-job by alice since ",
        true,
    )
    .await;

    // A forged or duplicate envelope naming the running request cannot stop its follower.
    let mut forged: serde_json::Value =
        serde_json::from_str(&sign_deploy(&lane.signer, &request("r-long-job", &[])))
            .expect("json");
    forged["signature"] = serde_json::Value::String(base64_encode(b"not a signature"));
    let outcome = lane.dispatch(&forged.to_string()).await;
    assert_refused(
        &lane,
        outcome,
        Some("r-long-job"),
        codes::BAD_SIGNATURE,
        "",
        false,
    )
    .await;

    // Cancel: SIGTERM reaches the runner.
    let outcome = lane
        .dispatch(&sign_cancel(&lane.signer, "r-long-job"))
        .await;
    assert_eq!(
        outcome,
        Decision::Cancelled {
            request_id: "r-long-job".into(),
            task_arn
        }
    );
    let finished = lane.dispatcher.wait_for_jobs().await;
    assert_eq!(finished[0].1.as_ref().expect("status").code(), Some(143));
    assert_eq!(
        std::fs::read_to_string(lane.run_dir("r-long-job").join("signal")).expect("signal"),
        "TERM\n"
    );
    // A cancel for a request that is not running changes nothing.
    let outcome = lane
        .dispatch(&sign_cancel(&lane.signer, "r-long-job"))
        .await;
    assert!(
        matches!(outcome, Decision::CancelIgnored { .. }),
        "{outcome:?}"
    );

    // The lock went with the runner: the lane takes a new request.
    let outcome = lane
        .dispatch(&sign_deploy(
            &lane.signer,
            &request("r-third", &[("MODE", "quick")]),
        ))
        .await;
    assert!(matches!(outcome, Decision::Started { .. }), "{outcome:?}");
    lane.dispatcher.wait_for_jobs().await;
}

#[tokio::test]
async fn a_runner_killed_by_a_signal_is_reported_and_frees_the_lane() {
    let lane = Lane::new().await;
    let outcome = lane
        .dispatch(&sign_deploy(
            &lane.signer,
            &request("r-dies", &[("MODE", "die")]),
        ))
        .await;
    assert!(matches!(outcome, Decision::Started { .. }), "{outcome:?}");
    lane.dispatcher.wait_for_jobs().await;
    let feedback = lane.feedback().await;
    let stopped = feedback
        .iter()
        .find_map(|f| match &f.body {
            FeedbackBody::TaskStopped {
                stop_code, reason, ..
            } => Some((stop_code, reason)),
            _ => None,
        })
        .expect("TaskStopped");
    assert_eq!(stopped.0, "RunnerKilled");
    assert!(
        stopped.1.contains("r-dies") && stopped.1.contains("signal 9"),
        "{}",
        stopped.1
    );
    let outcome = lane
        .dispatch(&sign_deploy(
            &lane.signer,
            &request("r-next", &[("MODE", "quick")]),
        ))
        .await;
    assert!(matches!(outcome, Decision::Started { .. }), "{outcome:?}");
    lane.dispatcher.wait_for_jobs().await;
}

#[tokio::test]
async fn a_runner_that_could_not_deliver_finished_is_reported_and_one_that_did_is_not() {
    let lane = Lane::new().await;
    let outcome = lane
        .dispatch(&sign_deploy(
            &lane.signer,
            &request("r-unreported", &[("MODE", "unreported")]),
        ))
        .await;
    assert!(matches!(outcome, Decision::Started { .. }), "{outcome:?}");
    lane.dispatcher.wait_for_jobs().await;
    let stopped: Vec<FeedbackBody> = lane
        .feedback()
        .await
        .into_iter()
        .map(|f| f.body)
        .filter(|body| matches!(body, FeedbackBody::TaskStopped { .. }))
        .collect();
    assert!(
        matches!(stopped.as_slice(), [FeedbackBody::TaskStopped { stop_code, reason, exit_code: Some(125) }]
            if stop_code == "RunnerUnreported" && reason.contains("r-unreported")),
        "{stopped:?}"
    );
    // A runner that exits with the job's code (here 0) has told the follower: nothing more
    // is sent.
    let outcome = lane
        .dispatch(&sign_deploy(
            &lane.signer,
            &request("r-reported", &[("MODE", "quick")]),
        ))
        .await;
    assert!(matches!(outcome, Decision::Started { .. }), "{outcome:?}");
    lane.dispatcher.wait_for_jobs().await;
    let stopped = lane
        .feedback()
        .await
        .into_iter()
        .filter(|f| matches!(f.body, FeedbackBody::TaskStopped { .. }))
        .count();
    assert_eq!(stopped, 0);
}

#[tokio::test]
async fn a_runner_that_cannot_start_is_reported() {
    let mut lane = Lane::new().await;
    let signer = lane.signer.clone();
    let config = LaneConfig::load(&lane.dir.path().join("airlock.toml")).expect("config");
    lane.dispatcher = LocalDispatcher::new(
        lane.lane.clone(),
        DispatcherSettings {
            verifying_key: *signer.verifying_key(),
            key_id: signer.key_id().to_string(),
            airlock_binary: lane.dir.path().join("no-such-airlock"),
            feedback_queue: "feedback".into(),
            config: Arc::new(config),
        },
    );
    let outcome = lane
        .dispatch(&sign_deploy(&signer, &request("r-nobin", &[])))
        .await;
    // As a task ECS cannot place: Accepted went out, then the refusal saying why.
    assert!(
        matches!(&outcome, Decision::Rejected { code, notified: true, .. } if *code == codes::RUN_TASK_FAILED),
        "{outcome:?}"
    );
    let feedback = lane.feedback().await;
    assert!(matches!(feedback[0].body, FeedbackBody::Accepted { .. }));
    assert!(
        matches!(&feedback[1].body, FeedbackBody::Rejected { code, reason } if code == codes::RUN_TASK_FAILED && reason.contains("no-such-airlock")),
        "{feedback:?}"
    );
    // The lane is free again.
    let outcome = lane
        .dispatch(&sign_deploy(&signer, &request("r-nobin-2", &[])))
        .await;
    assert!(
        matches!(&outcome, Decision::Rejected { code, .. } if *code == codes::RUN_TASK_FAILED),
        "{outcome:?}"
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
