//! Requests over real SNS → SQS (moto, raw delivery), signed by KMS: what the dispatcher
//! receives verifies with the key's public half and is exactly the request CI built.
#![cfg(feature = "aws")]

use std::time::Duration;

use airlock_lane::aws::{KmsSigner, SnsRequestSink};
use airlock_lane::transport::{RequestSigner, RequestSink};
use airlock_lane::trigger::{self, DeploySpec};
use airlock_protocol::signing::{VerifiedRequest, public_key_from_der_or_pem};
use airlock_protocol::{Requester, SignedRequest};
use airlock_testsupport::{FAKE_SECRET_ACCESS_KEY, MotoServer, fixtures};
use p256::ecdsa::signature::Verifier;

fn moto() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| panic!("{e}"))
}

async fn receive_one(config: &airlock_aws::SdkConfig, queue_url: &str) -> String {
    let received = airlock_aws::sqs(config)
        .receive_message()
        .queue_url(queue_url)
        .wait_time_seconds(5)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<String> = received
        .messages()
        .iter()
        .filter_map(|m| m.body().map(str::to_string))
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    bodies.into_iter().next().unwrap_or_default()
}

#[tokio::test]
async fn a_kms_signed_request_published_to_sns_arrives_raw_and_verifies() {
    let moto = moto();
    let config = moto.sdk_config();
    let lane = fixtures::topic_with_raw_queue(&config, "lane-requests")
        .await
        .expect("topic and queue");
    let key_arn = fixtures::signing_key(&config).await.expect("signing key");
    let signer = KmsSigner::new(&config, &key_arn);
    let sink = SnsRequestSink::new(&config, &lane.topic_arn);

    let spec = DeploySpec::from_args(
        "deploy-web",
        &[
            "STAGE=prod".to_string(),
            "NOTE=colour \u{1b}[31m and ✓".to_string(),
        ],
        Some(&format!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:{}",
            "b".repeat(64)
        )),
        Some(Duration::from_secs(1800)),
    )
    .expect("spec");
    let requester = Requester {
        ci: "github-actions".into(),
        repository: Some("acme/web".into()),
        commit: Some("0123abcd".into()),
        run_url: Some("https://github.com/acme/web/actions/runs/1".into()),
        actor: Some("octocat".into()),
    };
    let request = trigger::deploy_request(&spec, requester, time::OffsetDateTime::now_utc());
    let message_id = trigger::publish_deploy(&sink, &signer, &request)
        .await
        .expect("published");
    assert!(!message_id.is_empty());

    let body = receive_one(&config, &lane.queue_url).await;
    let envelope = SignedRequest::from_json(&body).expect("the raw body is the envelope");
    assert_eq!(envelope.key_id, key_arn);
    assert_eq!(envelope.algorithm, "ECDSA_SHA_256");
    let public = signer.public_key_der().await.expect("public key");
    let key = public_key_from_der_or_pem(&public).expect("P-256 public key");
    let verified = envelope.verify(&key).expect("the signature verifies");
    assert_eq!(verified, VerifiedRequest::Deploy(request.clone()));

    // A cancel goes the same way.
    let cancel = trigger::cancel_request(&request, "SIGTERM", time::OffsetDateTime::now_utc());
    trigger::publish_cancel(&sink, &signer, &cancel)
        .await
        .expect("published");
    let body = receive_one(&config, &lane.queue_url).await;
    let verified = SignedRequest::from_json(&body)
        .expect("envelope")
        .verify(&key)
        .expect("verifies");
    assert_eq!(verified, VerifiedRequest::Cancel(cancel));
}

#[tokio::test]
async fn kms_signatures_verify_over_the_exact_bytes_up_to_the_raw_limit() {
    let moto = moto();
    let config = moto.sdk_config();
    let key_arn = fixtures::signing_key(&config).await.expect("signing key");
    let signer = KmsSigner::new(&config, &key_arn);
    let key = public_key_from_der_or_pem(&signer.public_key_der().await.expect("public key"))
        .expect("P-256 public key");
    // Up to KMS's 4096-byte RAW limit the signature is over the exact bytes.
    for size in [1, 100, 4096] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let der = signer.sign(&payload).await.expect("signed");
        let signature = p256::ecdsa::Signature::from_der(&der).expect("DER signature");
        key.verify(&payload, &signature)
            .unwrap_or_else(|e| panic!("{size} bytes: {e}"));
        let mut altered = payload.clone();
        altered[size / 2] ^= 1;
        assert!(key.verify(&altered, &signature).is_err(), "{size} bytes");
    }
    // Beyond it, a clear refusal instead of a KMS validation error.
    let error = signer.sign(&[b'x'; 4097]).await.expect_err("too large");
    assert!(!error.retryable);
    assert!(error.to_string().contains("4097 bytes"), "{error}");
}

#[tokio::test]
async fn publishing_to_a_missing_topic_is_a_permanent_error_naming_it() {
    let moto = moto();
    let config = moto.sdk_config();
    let topic = format!(
        "arn:aws:sns:us-east-1:{}:no-such-topic",
        airlock_testsupport::ACCOUNT_ID
    );
    let error = SnsRequestSink::new(&config, &topic)
        .publish("{}")
        .await
        .expect_err("no such topic");
    assert_eq!(error.operation, "sns:Publish");
    assert!(!error.retryable, "{error}");
    assert!(error.to_string().contains(&topic), "{error}");
    assert!(!error.to_string().contains(FAKE_SECRET_ACCESS_KEY));

    let key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let error = KmsSigner::new(&config, key)
        .sign(b"payload")
        .await
        .expect_err("no such key");
    assert_eq!(error.operation, "kms:Sign");
    assert!(!error.retryable, "{error}");
    assert!(error.to_string().contains(key), "{error}");
}
