//! The hostile-request corpus against a real moto account: every file in `tests/hostile/`
//! describes one envelope that must be refused with its code, and after each one ECS must
//! hold no task of it (ListTasks). Cases that first deliver a valid request (replay, busy lane)
//! expect exactly that one task.
//!
//! A case file (TOML) changes a valid request for job `web`:
//! - before signing: `job`, `params`, `image` (text, so that malformed references can be sent),
//!   `issued_offset_secs`, `window_secs`, `payload_version`, `long_param = {name, length}`;
//! - the signature: `sign = "unknown_key_id" | "untrusted_key_trusted_id"`,
//!   `corrupt_signature = true`;
//! - after signing: `[tamper]` fields replaced in the payload, `envelope_version`;
//! - instead of all that: `raw`, the body as published;
//! - `before = "valid"`: a valid request first, whose nonce (`reuse_nonce`) or id
//!   (`reuse_request_id`) the hostile one reuses;
//!
//! and says what must happen: `expect` (the code), `reason_contains`, `notified` (whether
//! the follower is told through the feedback queue), `tasks` (default 0).
//!
//! Every case also goes, byte for byte, through the local lane's dispatcher (`deploy
//! --local`, crate `airlock-lane`) configured with the same key and the same job schemas: both
//! are the one admission core over different ports, and both must refuse with the same code.
#![cfg(feature = "aws")]

mod common;

use std::path::{Path, PathBuf};

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;

use airlock_dispatch::Decision;
use airlock_lane::config::LaneConfig;
use airlock_lane::local::dispatch::{DispatcherSettings, LocalDispatcher};
use airlock_lane::local::{LocalLane, TakenRequest};
use airlock_protocol::{FeedbackBody, RequestKind, SignedRequest};
use base64::Engine as _;
use common::{
    KEY_ID, Stage, bodies_for, cancel_for, sign, sign_cancel, sign_payload, trusted_key,
    untrusted_key, valid_request,
};
use serde_json::Value;

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/hostile exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// The local lane's dispatcher, trusting the stage's key, with the stage's job `web` and its
/// parameter schemas (taken from the AWS configuration's text, so they cannot drift apart). Its
/// runner is a stand-in that holds the lane until it is cancelled.
struct LocalStage {
    _dir: tempfile::TempDir,
    dispatcher: LocalDispatcher,
    started: Vec<airlock_protocol::DeployRequest>,
}

impl LocalStage {
    fn start(stage: &Stage) -> LocalStage {
        let dir = tempfile::tempdir().expect("tempdir");
        let schemas = stage
            .config_text
            .find("[dispatch.jobs.web.params.")
            .map(|at| stage.config_text[at..].replace("[dispatch.jobs.", "[lane.jobs."))
            .expect("the stage's job has parameters");
        let text = format!(
            "[lane.local]\ndb = \"lane.db\"\n[lane.jobs.web]\ncommand = [\"true\"]\ntimeout_secs = 600\n{schemas}"
        );
        let config = LaneConfig::parse(&text, "airlock.toml", dir.path()).expect("local config");
        let runner = dir.path().join("stand-in-airlock");
        std::fs::write(&runner, "#!/bin/sh\nexec sleep 60\n").expect("stand-in");
        std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let lane = stage
            .runtime
            .block_on(LocalLane::open(config.local.db.clone()))
            .expect("lane file");
        let dispatcher = LocalDispatcher::new(
            lane,
            DispatcherSettings {
                verifying_key: *trusted_key().verifying_key(),
                key_id: KEY_ID.to_string(),
                airlock_binary: runner,
                feedback_queue: "feedback".into(),
                config: Arc::new(config),
            },
        );
        LocalStage {
            _dir: dir,
            dispatcher,
            started: Vec::new(),
        }
    }

    /// Hands the envelope to the dispatcher as if taken from the lane file's request table.
    fn dispatch(&self, stage: &Stage, envelope: &str) -> Decision {
        let taken = TakenRequest {
            id: "hostile".into(),
            envelope: envelope.to_string(),
        };
        stage
            .runtime
            .block_on(self.dispatcher.handle(&taken))
            .expect("local dispatch")
    }

    /// Cancels what was started (through a signed cancel, as CI would) and waits for it.
    fn finish(mut self, stage: &Stage) {
        for request in std::mem::take(&mut self.started) {
            let decision = self.dispatch(stage, &sign_cancel(&cancel_for(&request)));
            assert!(
                matches!(decision, Decision::Cancelled { .. }),
                "{decision:?}"
            );
        }
        stage.runtime.block_on(self.dispatcher.wait_for_jobs());
    }
}

/// The envelope a case describes, and the request id it claims.
fn envelope(
    case: &toml::Table,
    stage: &Stage,
    first: Option<&airlock_protocol::DeployRequest>,
) -> (String, String) {
    if let Some(raw) = case.get("raw").and_then(|v| v.as_str()) {
        return (raw.to_string(), String::new());
    }
    let mut request = valid_request();
    let _ = stage;
    if let Some(first) = first {
        if case.get("reuse_nonce").and_then(|v| v.as_bool()) == Some(true) {
            request.nonce = first.nonce.clone();
        }
        if case.get("reuse_request_id").and_then(|v| v.as_bool()) == Some(true) {
            request.request_id = first.request_id.clone();
        }
    }
    if let Some(job) = case.get("job").and_then(|v| v.as_str()) {
        request.job = job.to_string();
    }
    if let Some(params) = case.get("params").and_then(|v| v.as_table()) {
        request.params = params
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().expect("param values are strings").to_string(),
                )
            })
            .collect();
    }
    if let Some(long) = case.get("long_param").and_then(|v| v.as_table()) {
        let name = long["name"].as_str().expect("name");
        let length = usize::try_from(long["length"].as_integer().expect("length")).expect("size");
        request.params.insert(name.to_string(), "a".repeat(length));
    }
    let now = time::OffsetDateTime::now_utc();
    if let Some(offset) = case.get("issued_offset_secs").and_then(|v| v.as_integer()) {
        request.issued_at = now + time::Duration::seconds(offset);
    }
    if let Some(window) = case.get("window_secs").and_then(|v| v.as_integer()) {
        request.expires_at = request.issued_at + time::Duration::seconds(window);
    }
    // The payload as JSON, so that fields can take values the typed request cannot hold.
    let mut payload: Value =
        serde_json::from_slice(&SignedRequest::deploy_payload(&request)).expect("payload json");
    if let Some(image) = case.get("image").and_then(|v| v.as_str()) {
        payload["image"] = Value::String(image.to_string());
    }
    if let Some(v) = case.get("payload_version").and_then(|v| v.as_integer()) {
        payload["v"] = Value::from(v);
    }
    let payload_bytes = serde_json::to_vec(&payload).expect("payload bytes");
    let (key, key_id) = match case.get("sign").and_then(|v| v.as_str()) {
        None => (trusted_key(), KEY_ID),
        Some("unknown_key_id") => (
            untrusted_key(),
            "arn:aws:kms:eu-west-1:666666666666:key/unknown",
        ),
        Some("untrusted_key_trusted_id") => (untrusted_key(), KEY_ID),
        Some(other) => panic!("unknown sign mode {other}"),
    };
    let mut envelope: Value = serde_json::from_str(&sign_payload(
        RequestKind::Deploy,
        &payload_bytes,
        &key,
        key_id,
    ))
    .expect("envelope json");
    if case.get("corrupt_signature").and_then(|v| v.as_bool()) == Some(true) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut der = b64
            .decode(envelope["signature"].as_str().expect("signature"))
            .expect("base64");
        let last = der.len() - 1;
        der[last] ^= 0x01;
        envelope["signature"] = Value::String(b64.encode(der));
    }
    if let Some(tamper) = case.get("tamper").and_then(|v| v.as_table()) {
        for (key, value) in tamper {
            payload[key] = serde_json::to_value(value).expect("toml to json");
        }
        let bytes = serde_json::to_vec(&payload).expect("payload bytes");
        envelope["payload"] =
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    if let Some(v) = case.get("envelope_version").and_then(|v| v.as_integer()) {
        envelope["v"] = Value::from(v);
    }
    (envelope.to_string(), request.request_id)
}

#[test]
fn every_hostile_request_is_refused_with_its_reason_and_starts_no_task() {
    let mut stage = Stage::start();
    let files = cases();
    assert!(files.len() >= 17, "the corpus has {} cases", files.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    for file in &files {
        stage.reset();
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let case: toml::Table = toml::from_str(&std::fs::read_to_string(file).expect("read case"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let dispatcher = stage.dispatcher();
        let mut local = LocalStage::start(&stage);
        let first = match case.get("before").and_then(|v| v.as_str()) {
            Some("valid") => {
                let first = valid_request();
                let envelope = sign(&first, &trusted_key(), KEY_ID);
                let decision = stage
                    .runtime
                    .block_on(dispatcher.handle_envelope(&envelope))
                    .expect("dispatch");
                assert!(
                    matches!(decision, Decision::Started { .. }),
                    "{name}: first request: {decision:?}"
                );
                stage.drain_feedback();
                let decision = local.dispatch(&stage, &envelope);
                assert!(
                    matches!(decision, Decision::Started { .. }),
                    "{name}: first request, local lane: {decision:?}"
                );
                local.started.push(first.clone());
                Some(first)
            }
            None => None,
            Some(other) => panic!("{name}: unknown before {other}"),
        };
        let (body, request_id) = envelope(&case, &stage, first.as_ref());
        let decision = stage
            .runtime
            .block_on(dispatcher.handle_envelope(&body))
            .expect("dispatch");
        let expect = case["expect"].as_str().expect("expect");
        let want_notified = case
            .get("notified")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let want_tasks =
            usize::try_from(case.get("tasks").and_then(|v| v.as_integer()).unwrap_or(0))
                .expect("tasks");
        match &decision {
            Decision::Rejected {
                code,
                reason,
                notified,
                ..
            } => {
                if *code != expect {
                    failures.push(format!("{name}: code {code}, expected {expect} ({reason})"));
                }
                if let Some(part) = case.get("reason_contains").and_then(|v| v.as_str())
                    && !reason.contains(part)
                {
                    failures.push(format!("{name}: reason {reason:?} lacks {part:?}"));
                }
                if *notified != want_notified {
                    failures.push(format!(
                        "{name}: notified {notified}, expected {want_notified}"
                    ));
                }
                let feedback = stage.drain_feedback();
                let told: Vec<FeedbackBody> = bodies_for(&feedback, &request_id);
                let rejected = told
                    .iter()
                    .any(|b| matches!(b, FeedbackBody::Rejected { code: c, .. } if c == expect));
                if want_notified && !rejected {
                    failures.push(format!(
                        "{name}: the follower was not told (feedback: {feedback:?})"
                    ));
                }
                if !want_notified && !told.is_empty() && !request_id.is_empty() && first.is_none() {
                    failures.push(format!("{name}: unexpected feedback {told:?}"));
                }
                if first.as_ref().is_some_and(|f| f.request_id == request_id) && !told.is_empty() {
                    failures.push(format!(
                        "{name}: the running request's follower got {told:?}"
                    ));
                }
                if reason.contains("hidden") {
                    failures.push(format!("{name}: a parameter value leaked into the reason"));
                }
            }
            other => failures.push(format!("{name}: not refused: {other:?}")),
        }
        let tasks = stage.tasks();
        if tasks.len() != want_tasks {
            failures.push(format!(
                "{name}: {} tasks in ECS, expected {want_tasks}",
                tasks.len()
            ));
        }
        // The same envelope through the local lane: the same code. Its one queue serves every
        // job, so it may tell more followers than AWS can (an unverified envelope's naming an
        // unknown job), never fewer.
        match (&decision, local.dispatch(&stage, &body)) {
            (
                Decision::Rejected { code, .. },
                Decision::Rejected {
                    code: local_code,
                    notified,
                    ..
                },
            ) => {
                if local_code != *code {
                    failures.push(format!(
                        "{name}: the local lane refused with {local_code}, AWS with {code}"
                    ));
                }
                if want_notified && !notified {
                    failures.push(format!("{name}: the local lane did not tell the follower"));
                }
            }
            (_, other) => failures.push(format!("{name}: local lane: not refused: {other:?}")),
        }
        compared += 1;
        local.finish(&stage);
    }
    assert_eq!(
        compared,
        files.len(),
        "every case went through both dispatchers"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_request_delivered_three_times_starts_exactly_one_task() {
    let stage = Stage::start();
    let dispatcher = stage.dispatcher();
    let request = valid_request();
    let envelope = sign(&request, &trusted_key(), KEY_ID);
    let decisions: Vec<Decision> = (0..3)
        .map(|_| {
            stage
                .runtime
                .block_on(dispatcher.handle_envelope(&envelope))
                .expect("dispatch")
        })
        .collect();
    assert!(
        matches!(decisions[0], Decision::Started { .. }),
        "{decisions:?}"
    );
    assert!(
        matches!(decisions[1], Decision::Duplicate { .. }),
        "{decisions:?}"
    );
    assert!(
        matches!(decisions[2], Decision::Duplicate { .. }),
        "{decisions:?}"
    );
    assert_eq!(stage.tasks().len(), 1);
    // The follower heard Accepted and Started once each, and nothing else.
    let told = bodies_for(&stage.drain_feedback(), &request.request_id);
    assert_eq!(told.len(), 2, "{told:?}");
    assert!(matches!(told[0], FeedbackBody::Accepted { .. }));
    assert!(matches!(told[1], FeedbackBody::Started { .. }));
}

/// `airlock deploy --job nope`: a request signed by the trusted key for a job that is not
/// configured is refused at once through the lane's one queue, naming the jobs there are. An
/// envelope that does not verify is only audited, and so is a mistyped job on a lane whose
/// jobs have queues of their own (there is no queue its follower is known to read).
#[test]
fn a_mistyped_job_is_told_through_the_lanes_one_queue_and_a_forged_one_is_not() {
    let mut stage = Stage::start();
    let dispatcher = stage.dispatcher();
    let mut mistyped = valid_request();
    mistyped.job = "nope".into();
    let decision = stage.submit(&dispatcher, &mistyped);
    assert!(
        matches!(
            &decision,
            Decision::Rejected {
                code: "unknown_job",
                notified: true,
                ..
            }
        ),
        "{decision:?}"
    );
    let told = bodies_for(&stage.drain_feedback(), &mistyped.request_id);
    assert!(
        matches!(told.as_slice(), [FeedbackBody::Rejected { code, reason }]
            if code == "unknown_job" && reason.contains("\"nope\"") && reason.contains("(configured: web)")),
        "{told:?}"
    );

    let mut forged = valid_request();
    forged.job = "nope".into();
    let decision = stage
        .runtime
        .block_on(dispatcher.handle_envelope(&sign(&forged, &untrusted_key(), KEY_ID)))
        .expect("dispatch");
    assert!(
        matches!(
            &decision,
            Decision::Rejected {
                code: "bad_signature",
                notified: false,
                ..
            }
        ),
        "{decision:?}"
    );
    assert_eq!(stage.drain_feedback(), vec![]);

    let worker_queue = stage
        .runtime
        .block_on(airlock_testsupport::fixtures::queue(
            &stage.moto.sdk_config(),
            "airlock-feedback-worker",
        ))
        .expect("worker queue");
    stage.add_worker_job(&worker_queue);
    let dispatcher = stage.dispatcher();
    let mut mistyped = valid_request();
    mistyped.job = "nope".into();
    let decision = stage.submit(&dispatcher, &mistyped);
    assert!(
        matches!(
            &decision,
            Decision::Rejected { code: "unknown_job", notified: false, reason, .. }
                if reason.contains("(configured: web, worker)")
        ),
        "{decision:?}"
    );
    assert_eq!(stage.drain_feedback(), vec![]);
    assert_eq!(stage.drain_queue(&worker_queue), vec![]);
}
