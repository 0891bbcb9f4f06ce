//! One smoke test per AWS service the project uses, against a real moto server: they prove
//! that the harness, the SDK and moto agree before any airlock code relies on them.

use std::time::{Duration, Instant, SystemTime};

use airlock_testsupport::{MotoServer, fixtures};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, TaskOverride,
};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

fn moto() -> MotoServer {
    MotoServer::start().unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn sns_publish_arrives_in_sqs_as_the_raw_message() {
    let moto = moto();
    let config = moto.sdk_config();
    let lane = fixtures::topic_with_raw_queue(&config, "lane-smoke")
        .await
        .expect("fixture");
    // Bytes that need care on the way: an ANSI escape, a tab, non-ASCII text.
    let message = "deploy \u{1b}[32mok\u{1b}[0m\tstage=prod ✓";
    airlock_aws::sns(&config)
        .publish()
        .topic_arn(&lane.topic_arn)
        .message(message)
        .send()
        .await
        .expect("publish");

    let received = airlock_aws::sqs(&config)
        .receive_message()
        .queue_url(&lane.queue_url)
        .wait_time_seconds(5)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<&str> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    // Raw delivery: the body is the message itself, not SNS's JSON notification envelope.
    assert_eq!(bodies, vec![message]);
}

#[tokio::test]
async fn sqs_long_poll_waits_for_the_wait_time_and_returns_early_on_a_message() {
    let moto = moto();
    let config = moto.sdk_config();
    let sqs = airlock_aws::sqs_long_poll(&config, Duration::from_secs(2));
    let queue_url = sqs
        .create_queue()
        .queue_name("long-poll")
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_string();

    let started = Instant::now();
    let empty = sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(2)
        .send()
        .await
        .expect("receive on an empty queue");
    let waited = started.elapsed();
    assert!(empty.messages().is_empty());
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(6),
        "an empty long poll of 2 s took {waited:?}"
    );

    let sender = sqs.clone();
    let url = queue_url.clone();
    let send = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sender
            .send_message()
            .queue_url(url)
            .message_body("wake up")
            .send()
            .await
    });
    let started = Instant::now();
    let woken = sqs
        .receive_message()
        .queue_url(&queue_url)
        .wait_time_seconds(10)
        .send()
        .await
        .expect("receive while a message arrives");
    let waited = started.elapsed();
    send.await.expect("join").expect("send");
    assert_eq!(woken.messages().len(), 1);
    assert!(
        waited < Duration::from_secs(5),
        "a long poll of 10 s should return when the message arrives, took {waited:?}"
    );
}

#[tokio::test]
async fn sts_assume_role_returns_credentials_expiring_after_the_duration() {
    let moto = moto();
    let config = moto.sdk_config();
    let role_arn = format!(
        "arn:aws:iam::{}:role/airlock-smoke",
        airlock_testsupport::ACCOUNT_ID
    );
    let before = SystemTime::now();
    let assumed = airlock_aws::sts(&config)
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("smoke-session")
        .duration_seconds(900)
        .send()
        .await
        .expect("assume role");
    let credentials = assumed.credentials().expect("credentials");
    let expiration = SystemTime::try_from(*credentials.expiration()).expect("expiration");
    let lifetime = expiration
        .duration_since(before)
        .expect("expiration is in the future");
    assert!(
        lifetime >= Duration::from_secs(880) && lifetime <= Duration::from_secs(920),
        "a 900 s session expires in {lifetime:?}"
    );
    let assumed_arn = assumed
        .assumed_role_user()
        .map(|u| u.arn())
        .unwrap_or_default();
    assert!(
        assumed_arn.ends_with(":assumed-role/airlock-smoke/smoke-session"),
        "{assumed_arn}"
    );

    // The assumed credentials are what GetCallerIdentity then reports.
    let assumed_config = config
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    credentials.access_key_id(),
                    credentials.secret_access_key(),
                    Some(credentials.session_token().to_string()),
                    Some(expiration),
                    "assumed",
                ),
            ),
        )
        .build();
    let identity = airlock_aws::sts(&assumed_config)
        .get_caller_identity()
        .send()
        .await
        .expect("get caller identity");
    assert_eq!(identity.arn(), Some(assumed_arn));
}

#[tokio::test]
async fn kms_p256_signature_verifies_locally_from_the_public_key() {
    let moto = moto();
    let config = moto.sdk_config();
    let key_arn = fixtures::signing_key(&config).await.expect("signing key");
    let kms = airlock_aws::kms(&config);
    let payload = br#"{"v":1,"job":"deploy-web","nonce":"6f1c"}"#;

    let signed = kms
        .sign()
        .key_id(&key_arn)
        .message(Blob::new(payload.to_vec()))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("sign");
    let public = kms
        .get_public_key()
        .key_id(&key_arn)
        .send()
        .await
        .expect("get public key");

    let verifying_key =
        VerifyingKey::from_public_key_der(public.public_key().expect("public key").as_ref())
            .expect("SubjectPublicKeyInfo DER of a P-256 key");
    let signature = Signature::from_der(signed.signature().expect("signature").as_ref())
        .expect("DER ECDSA signature");
    verifying_key
        .verify(payload, &signature)
        .expect("signature verifies over the exact payload");

    let mut altered = payload.to_vec();
    altered[10] ^= 1;
    assert!(
        verifying_key.verify(&altered, &signature).is_err(),
        "an altered payload must not verify"
    );
}

#[tokio::test]
async fn dynamodb_conditional_put_refuses_a_second_writer() {
    let moto = moto();
    let config = moto.sdk_config();
    let table = fixtures::ttl_table(&config, "nonces", "pk", "expires_at")
        .await
        .expect("table");
    let ddb = airlock_aws::dynamodb(&config);
    let put = || {
        ddb.put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("nonce#6f1c".into()))
            .item("expires_at", AttributeValue::N("4102444800".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
    };
    put().await.expect("the first put wins");
    let second = put().await.expect_err("the second put must conflict");
    assert!(
        second
            .as_service_error()
            .is_some_and(|e| e.is_conditional_check_failed_exception()),
        "expected ConditionalCheckFailedException, got {:?}",
        second
    );

    let ttl = ddb
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("describe ttl");
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expires_at")
    );
}

#[tokio::test]
async fn ecs_run_task_overrides_are_visible_in_describe_tasks() {
    let moto = moto();
    let config = moto.sdk_config();
    let network = fixtures::network(&config).await.expect("network");
    let cluster = fixtures::cluster(&config, "lane").await.expect("cluster");
    let task_definition = fixtures::fargate_task_definition(&config, "deployer", "runner")
        .await
        .expect("task definition");
    let ecs = airlock_aws::ecs(&config);

    let started = ecs
        .run_task()
        .cluster(&cluster)
        .task_definition(&task_definition)
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(
                    AwsVpcConfiguration::builder()
                        .subnets(&network.subnet_id)
                        .security_groups(&network.security_group_id)
                        .assign_public_ip(AssignPublicIp::Disabled)
                        .build()
                        .expect("awsvpc configuration"),
                )
                .build(),
        )
        .overrides(
            TaskOverride::builder()
                .container_overrides(
                    ContainerOverride::builder()
                        .name("runner")
                        .environment(
                            KeyValuePair::builder()
                                .name("AIRLOCK_REQUEST_ID")
                                .value("req-0001")
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .started_by("airlock")
        .send()
        .await
        .expect("run task");
    assert!(started.failures().is_empty(), "{:?}", started.failures());
    let task_arn = started
        .tasks()
        .first()
        .and_then(|t| t.task_arn())
        .expect("a task was started")
        .to_string();

    let described = ecs
        .describe_tasks()
        .cluster(&cluster)
        .tasks(&task_arn)
        .send()
        .await
        .expect("describe tasks");
    let task = described.tasks().first().expect("the task");
    assert_eq!(task.started_by(), Some("airlock"));
    let env: Vec<(&str, &str)> = task
        .overrides()
        .map(|o| o.container_overrides())
        .unwrap_or_default()
        .iter()
        .filter(|c| c.name() == Some("runner"))
        .flat_map(|c| c.environment())
        .filter_map(|kv| Some((kv.name()?, kv.value()?)))
        .collect();
    assert_eq!(env, vec![("AIRLOCK_REQUEST_ID", "req-0001")]);
}

#[tokio::test]
async fn iam_account_alias_round_trips() {
    let moto = moto();
    let config = moto.sdk_config();
    let iam = airlock_aws::iam(&config);
    iam.create_account_alias()
        .account_alias("bboq-test-website")
        .send()
        .await
        .expect("create alias");
    let aliases = iam
        .list_account_aliases()
        .send()
        .await
        .expect("list aliases");
    assert_eq!(aliases.account_aliases(), ["bboq-test-website"]);
}

#[tokio::test]
async fn reset_drops_every_resource() {
    let moto = moto();
    let sqs = airlock_aws::sqs(&moto.sdk_config());
    sqs.create_queue()
        .queue_name("before-reset")
        .send()
        .await
        .expect("create queue");
    moto.reset().expect("reset");
    let queues = sqs.list_queues().send().await.expect("list queues");
    assert!(queues.queue_urls().is_empty(), "{:?}", queues.queue_urls());
}

fn process_is_running(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn the_server_is_stopped_by_pid_on_drop_and_on_panic() {
    let server = moto();
    let pid = server.pid();
    assert!(process_is_running(pid));
    drop(server);
    assert!(
        !process_is_running(pid),
        "moto {pid} outlived its MotoServer"
    );

    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::panic::catch_unwind(move || {
        let server = moto();
        tx.send(server.pid()).expect("send pid");
        panic!("a test failing while moto runs");
    });
    assert!(outcome.is_err());
    let pid = rx.recv().expect("pid");
    assert!(
        !process_is_running(pid),
        "moto {pid} outlived a panicking test"
    );
}
