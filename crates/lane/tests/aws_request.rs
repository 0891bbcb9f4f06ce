//! Requests over real SNS → SQS (moto, raw delivery), signed by KMS: what the dispatcher
//! receives verifies with the key's public half and is exactly the request CI built. And what
//! the signer asks KMS for: the payload's SHA-256 as a `DIGEST` message.
#![cfg(feature = "aws")]

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::Duration;

use airlock_lane::aws::{KmsSigner, SnsRequestSink};
use airlock_lane::doctor;
use airlock_lane::transport::{RequestSigner, RequestSink};
use airlock_lane::trigger::{self, DeploySpec};
use airlock_protocol::signing::{RequestKind, VerifiedRequest, public_key_from_der_or_pem};
use airlock_protocol::{DeployRequest, Requester, SignedRequest};
use airlock_testsupport::{FAKE_SECRET_ACCESS_KEY, MotoServer, fixtures};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

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

/// A deploy request whose parameters total about 7 KB: past the 4096 bytes KMS takes as a RAW
/// message, within the 8 KiB of overrides ECS RunTask takes.
fn large_request() -> DeployRequest {
    let params: Vec<String> = (0..7)
        .map(|i| format!("PARAM_{i}={}", "v".repeat(1000)))
        .collect();
    let spec = DeploySpec::from_args("deploy-web", &params, None, None).expect("spec");
    let requester = Requester {
        ci: "github-actions".into(),
        ..Requester::default()
    };
    let request = trigger::deploy_request(&spec, requester, time::OffsetDateTime::now_utc());
    let payload = SignedRequest::deploy_payload(&request);
    assert!((7000..8192).contains(&payload.len()), "{}", payload.len());
    request
}

/// Verifies `der` over `payload`, saying so when the KMS hashed the digest it was given once
/// more (moto 5.2.5 ignores `MessageType=DIGEST`; the harness must make it honour it).
fn assert_signs_the_payload(key: &VerifyingKey, payload: &[u8], der: &[u8]) {
    let signature = Signature::from_der(der).expect("DER signature");
    if key.verify(payload, &signature).is_ok() {
        return;
    }
    let digest = Sha256::digest(payload);
    if key.verify(&digest[..], &signature).is_ok() {
        panic!(
            "{} bytes: KMS signed SHA-256 of the digest, not the digest: it ignored \
             MessageType=DIGEST (stock moto does; the moto harness must honour DIGEST)",
            payload.len()
        );
    }
    panic!("{} bytes: the signature does not verify", payload.len());
}

#[tokio::test]
async fn kms_signs_requests_past_the_raw_limit_and_they_verify_with_the_public_key() {
    let moto = moto();
    let config = moto.sdk_config();
    let key_arn = fixtures::signing_key(&config).await.expect("signing key");
    let signer = KmsSigner::new(&config, &key_arn);
    let key = public_key_from_der_or_pem(&signer.public_key_der().await.expect("public key"))
        .expect("P-256 public key");

    let request = large_request();
    let payload = SignedRequest::deploy_payload(&request);
    let envelope = trigger::sign(&signer, RequestKind::Deploy, &payload)
        .await
        .expect("KMS signs a request of over 4096 bytes");
    assert_eq!(envelope.key_id, key_arn);
    let der = STANDARD.decode(&envelope.signature).expect("base64");
    assert_signs_the_payload(&key, &payload, &der);
    assert_eq!(
        envelope
            .verify(&key)
            .expect("the dispatcher's check passes"),
        VerifiedRequest::Deploy(request)
    );

    // Signatures are over exactly the bytes given, at any size either side of 4096.
    for size in [1, 100, 4096, 4097, 8192, 65_536] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let der = signer.sign(&payload).await.expect("signed");
        assert_signs_the_payload(&key, &payload, &der);
        let signature = Signature::from_der(&der).expect("DER signature");
        let mut altered = payload.clone();
        altered[size / 2] ^= 1;
        assert!(key.verify(&altered, &signature).is_err(), "{size} bytes");
    }
}

/// What one KMS `Sign` request carried: its `X-Amz-Target` and its JSON body.
struct SignCall {
    target: String,
    body: serde_json::Value,
}

/// A stand-in KMS for one `Sign` call that signs as KMS does with `MessageType=DIGEST` (the
/// message is the hash, signed unhashed), so what the signer sent can be read back.
fn one_call_kms(key: SigningKey) -> (String, std::thread::JoinHandle<SignCall>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = Vec::new();
        let mut chunk = [0u8; 8192];
        let mut read_more = |request: &mut Vec<u8>| {
            let n = stream.read(&mut chunk).expect("read");
            assert!(n > 0, "the request ended early");
            request.extend_from_slice(&chunk[..n]);
        };
        let body_at = loop {
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            read_more(&mut request);
        };
        let head = String::from_utf8_lossy(&request[..body_at]).to_ascii_lowercase();
        let header = |name: &str| {
            head.lines()
                .find_map(|line| line.strip_prefix(name))
                .map(|value| value.trim().to_string())
                .unwrap_or_default()
        };
        let length: usize = header("content-length:").parse().expect("Content-Length");
        while request.len() < body_at + length {
            read_more(&mut request);
        }
        let body: serde_json::Value =
            serde_json::from_slice(&request[body_at..body_at + length]).expect("JSON body");
        let message = STANDARD
            .decode(body["Message"].as_str().unwrap_or_default())
            .expect("base64 Message");
        let signature: Signature = key.sign_prehash(&message).expect("a digest");
        let answer = serde_json::json!({
            "KeyId": body["KeyId"],
            "Signature": STANDARD.encode(signature.to_der().as_bytes()),
            "SigningAlgorithm": "ECDSA_SHA_256",
        })
        .to_string();
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .expect("answer");
        SignCall {
            target: header("x-amz-target:"),
            body,
        }
    });
    (endpoint, server)
}

#[tokio::test]
async fn the_signer_asks_kms_to_sign_the_payloads_sha256_as_a_digest() {
    let key = SigningKey::from_slice(&[7u8; 32]).expect("a test scalar");
    let verifying = *key.verifying_key();
    let (endpoint, kms) = one_call_kms(key);
    let config =
        airlock_testsupport::sdk_config_for(&endpoint, aws_config::retry::RetryConfig::disabled());
    let key_arn = "arn:aws:kms:us-east-1:123456789012:key/digest-test";
    let signer = KmsSigner::new(&config, key_arn);

    let request = large_request();
    let payload = SignedRequest::deploy_payload(&request);
    let envelope = trigger::sign(&signer, RequestKind::Deploy, &payload)
        .await
        .expect("signed");
    let call = kms.join().expect("the stand-in KMS answered");

    assert_eq!(call.target, "trentservice.sign");
    assert_eq!(call.body["KeyId"], key_arn);
    assert_eq!(call.body["MessageType"], "DIGEST");
    assert_eq!(call.body["SigningAlgorithm"], "ECDSA_SHA_256");
    let message = STANDARD
        .decode(call.body["Message"].as_str().unwrap_or_default())
        .expect("base64 Message");
    assert_eq!(message.len(), 32);
    assert_eq!(message, Sha256::digest(&payload).to_vec());
    // Signed as AWS signs a DIGEST, the envelope passes the dispatcher's check.
    assert_eq!(
        envelope.verify(&verifying),
        Ok(VerifiedRequest::Deploy(request))
    );
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

#[tokio::test]
async fn lane_doctor_signs_its_probe_as_a_digest_the_way_deploy_does() {
    let key = SigningKey::from_slice(&[9u8; 32]).expect("a test scalar");
    let verifying = *key.verifying_key();
    let (endpoint, kms) = one_call_kms(key);
    let config =
        airlock_testsupport::sdk_config_for(&endpoint, aws_config::retry::RetryConfig::disabled());
    let signer = KmsSigner::new(&config, "arn:aws:kms:us-east-1:123456789012:key/doctor");
    // Only the signing is under test: after the one Sign call nothing listens, so the queue
    // and the topic fail and the doctor stops there.
    let sink = SnsRequestSink::new(&config, "arn:aws:sns:us-east-1:123456789012:lane");
    let source =
        airlock_lane::aws::SqsFeedbackSource::new(&config, format!("{endpoint}/123456789012/q"));
    let options = doctor::DoctorOptions {
        job: "deploy-web".into(),
        wait: Duration::from_secs(1),
        poll_pause: Duration::from_millis(10),
        trusted_keys_at: "the dispatcher's configuration".into(),
        dispatcher_log: "the dispatcher's log".into(),
    };
    let report = doctor::examine(
        &sink,
        &signer,
        &source,
        doctor::PublicKey::Known(verifying),
        &options,
    )
    .await;
    let call = kms.join().expect("the stand-in KMS answered");

    assert_eq!(call.body["MessageType"], "DIGEST");
    let message = STANDARD
        .decode(call.body["Message"].as_str().unwrap_or_default())
        .expect("base64 Message");
    assert_eq!(message.len(), 32);
    let sign = &report[0];
    assert_eq!((sign.what, sign.verdict), ("kms:Sign", doctor::Verdict::Ok));
    assert!(
        sign.detail.contains("(ECDSA_SHA_256, DIGEST)"),
        "{}",
        sign.line()
    );
    // Signed as AWS signs a DIGEST, the probe verifies over its payload here.
    let public = &report[1];
    assert_eq!(
        (public.what, public.verdict),
        ("kms:GetPublicKey", doctor::Verdict::Ok),
        "{}",
        public.line()
    );
}
