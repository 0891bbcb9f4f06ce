//! `airlock lane doctor`'s loop check against the real `airlock-dispatch` bootstrap under the
//! Lambda runtime API, in moto: the doctor signs its expired probe with KMS and publishes it to
//! the lane's topic; the topic's subscription is bridged to the runtime API as the SNS event
//! Lambda would get; the bootstrap verifies and refuses it on the feedback queue the doctor
//! reads. With the key trusted the answer is `expired`; with another public key configured for
//! the key's id it is `bad_signature`, and the doctor says how to fix it.
#![cfg(feature = "aws")]

mod common;

use std::process::Stdio;
use std::time::Duration;

use airlock_lane::aws::{KmsSigner, SnsRequestSink, SqsFeedbackSource};
use airlock_lane::doctor::{self, Check, DoctorOptions, PublicKey, Verdict};
use airlock_testsupport::fixtures;
use common::runtime_api::{Bootstrap, Reply, RuntimeApi, bootstrap_command, sns_event};

/// The real bootstrap, built by cargo for this test.
const BIN: &str = env!("CARGO_BIN_EXE_airlock-dispatch");
use common::{KEY_ID, Stage, trusted_key, untrusted_key};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};

/// Runs the doctor against a bootstrap whose configuration trusts `trusted_pem` for the KMS
/// key's id (`None`: the key's own public key). Returns the report and the bootstrap's replies.
fn doctor_against_bootstrap(trusted_pem: Option<String>) -> (Vec<Check>, Vec<Reply>) {
    let stage = Stage::start();
    let sdk = stage.moto.sdk_config();
    let lane = stage
        .runtime
        .block_on(fixtures::lane_endpoints(&sdk))
        .expect("topic and signing key");
    let kms_pem = airlock_protocol::signing::public_key_from_der_or_pem(&lane.public_key_der)
        .expect("p256")
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let test_pem = trusted_key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    // The stage's configuration, trusting the KMS key under its ARN; its job `web` answers on
    // the stage's feedback queue.
    let config_text = stage
        .config_text
        .replace(KEY_ID, &lane.key_id)
        .replace(&test_pem, &trusted_pem.unwrap_or(kms_pem));
    let dir = std::env::temp_dir().join(format!(
        "airlock-doctor-test-{}-{}",
        std::process::id(),
        common::random_hex(4)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("dispatch.toml");
    std::fs::write(&config, &config_text).expect("write config");

    let api = RuntimeApi::start();
    let _bootstrap = Bootstrap(Some(
        bootstrap_command(BIN.as_ref(), stage.moto.env(), &api)
            .env("AIRLOCK_DISPATCH_CONFIG", &config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start airlock-dispatch"),
    ));

    let report = stage.runtime.block_on(async {
        let sink = SnsRequestSink::new(&sdk, lane.requests.topic_arn.clone());
        let signer = KmsSigner::new(&sdk, lane.key_id.clone());
        let source = SqsFeedbackSource::new(&sdk, stage.queue_url.clone())
            .with_visibility_timeout(Duration::ZERO);
        let public_key = PublicKey::Fetched(signer.public_key_der().await);
        let options = DoctorOptions {
            job: "web".into(),
            wait: Duration::from_secs(60),
            poll_pause: Duration::from_millis(200),
            trusted_keys_at: "[dispatch.keys]".into(),
            dispatcher_log: "the bootstrap's stderr".into(),
        };
        // Lambda's SNS trigger: what reaches the topic becomes one invocation.
        let bridge = {
            let sdk = sdk.clone();
            let queue = lane.requests.queue_url.clone();
            tokio::spawn(async move {
                fixtures::take_message(&sdk, &queue, Duration::from_secs(60)).await
            })
        };
        let examined = doctor::examine(&sink, &signer, &source, public_key, &options);
        let (report, envelope) = tokio::join!(examined, async {
            let envelope = bridge
                .await
                .expect("bridge")
                .expect("the probe on the topic");
            api.push(&sns_event(&envelope));
            envelope
        });
        assert!(envelope.contains("\"signature\""), "{envelope}");
        report
    });
    let replies = api.wait_replies(1, Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir);
    (report, replies)
}

fn check<'a>(report: &'a [Check], what: &str) -> &'a Check {
    report
        .iter()
        .find(|c| c.what == what)
        .unwrap_or_else(|| panic!("no {what} in {report:#?}"))
}

#[test]
fn the_doctor_hears_expired_from_a_dispatcher_that_trusts_its_key() {
    let (report, replies) = doctor_against_bootstrap(None);
    for what in [
        "kms:Sign",
        "kms:GetPublicKey",
        "sqs:ReceiveMessage",
        "sns:Publish",
        "dispatcher",
    ] {
        assert_eq!(check(&report, what).verdict, Verdict::Ok, "{report:#?}");
    }
    assert!(
        check(&report, "dispatcher")
            .detail
            .contains("Rejected{expired}"),
        "{report:#?}"
    );
    assert!(!doctor::has_problems(&report));
    // The invocation succeeded: a refusal is an answer, not a failure to retry.
    assert!(
        matches!(replies.as_slice(), [Reply::Response { body, .. }] if body.contains("expired")),
        "{replies:?}"
    );
}

#[test]
fn the_doctor_reports_a_dispatcher_with_another_public_key_and_the_fix() {
    let other = untrusted_key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let (report, replies) = doctor_against_bootstrap(Some(other));
    assert_eq!(check(&report, "kms:Sign").verdict, Verdict::Ok);
    assert_eq!(check(&report, "kms:GetPublicKey").verdict, Verdict::Ok);
    let dispatcher = check(&report, "dispatcher");
    assert_eq!(dispatcher.verdict, Verdict::Problem, "{report:#?}");
    assert!(
        dispatcher.detail.contains("Rejected{bad_signature}"),
        "{dispatcher:?}"
    );
    let fix = dispatcher.fix.as_deref().unwrap_or_default();
    assert!(
        fix.contains("[dispatch.keys]") && fix.contains("get-public-key"),
        "{fix}"
    );
    assert!(doctor::has_problems(&report));
    assert!(
        matches!(replies.as_slice(), [Reply::Response { body, .. }] if body.contains("bad_signature")),
        "{replies:?}"
    );
}
